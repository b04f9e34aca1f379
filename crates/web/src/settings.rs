//! Typed settings from environment variables, read the same way by every service: an
//! empty variable counts as unset, numbers and durations are parsed with the variable's
//! name in the error, and the defaults that work for the all-in-one are given where the
//! setting is read. Settings are read through a lookup function, so tests pass a map.
//!
//! (Not `envy` or `figment`: several defaults derive from other settings — a service's
//! own database next to `DATABASE_URL`, `PUBLIC_URL` from the listening address — and
//! secrets have rules of their own; a small reader over the lookup says that plainly.)

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

/// Where the all-in-one keeps its data when `DATABASE_URL` is unset.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/conversations.db";

/// A setting that is missing or cannot be used; names the variable.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// The settings of one process.
pub struct Settings<L> {
    lookup: L,
}

/// The process environment as a lookup (empty values count as unset).
pub fn environment() -> Settings<impl Fn(&str) -> Option<String>> {
    Settings::new(|name: &str| std::env::var(name).ok())
}

impl<L: Fn(&str) -> Option<String>> Settings<L> {
    /// Settings read through `lookup`.
    pub fn new(lookup: L) -> Self {
        Self { lookup }
    }

    /// The value of `name`, if set and not empty.
    pub fn text(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    /// The value of `name`, or `default`.
    pub fn text_or(&self, name: &str, default: &str) -> String {
        self.text(name).unwrap_or_else(|| default.to_owned())
    }

    /// A secret or token: `None` when unset, an error naming `name` when shorter than
    /// `min_chars` (a short secret is guessable; refusing it beats running with it).
    pub fn secret(&self, name: &str, min_chars: usize) -> Result<Option<String>, ConfigError> {
        match self.text(name) {
            Some(value) if value.chars().count() < min_chars => Err(ConfigError(format!(
                "{name} must be at least {min_chars} characters"
            ))),
            other => Ok(other),
        }
    }

    /// `name` parsed as a `T`, or `default` when unset.
    pub fn parse_or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.text(name) {
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e| ConfigError(format!("{name} = `{raw}`: {e}"))),
            None => Ok(default),
        }
    }

    /// `name` as whole seconds (at least `min`), or `default` seconds.
    pub fn secs(&self, name: &str, default: u64, min: u64) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(self.parse_or(name, default)?.max(min)))
    }

    /// `name` as milliseconds, or `default` milliseconds.
    pub fn millis(&self, name: &str, default: u64) -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(self.parse_or(name, default)?))
    }

    /// `name` as whole days, or `default` days.
    pub fn days(&self, name: &str, default: u64) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(
            self.parse_or(name, default)?.saturating_mul(86_400),
        ))
    }

    /// A service's own database: `own` when set, otherwise beside `DATABASE_URL` (a file
    /// `file` next to a SQLite database, the same PostgreSQL database otherwise).
    pub fn database_url(&self, own: &str, file: &str) -> String {
        self.text(own).unwrap_or_else(|| {
            conversations_db::own_database_url(
                &self.text_or("DATABASE_URL", DEFAULT_DATABASE_URL),
                file,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Settings<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::new(move |name: &str| map.get(name).cloned())
    }

    #[test]
    fn unset_and_empty_take_the_default_and_bad_values_name_the_variable() {
        let s = settings(&[("EMPTY", " "), ("N", "12"), ("BAD", "twelve")]);
        assert_eq!(s.parse_or("EMPTY", 5u32).unwrap(), 5);
        assert_eq!(s.parse_or("UNSET", 5u32).unwrap(), 5);
        assert_eq!(s.parse_or("N", 5u32).unwrap(), 12);
        let error = s.parse_or("BAD", 5u32).unwrap_err().to_string();
        assert!(error.contains("BAD") && error.contains("twelve"), "{error}");
        assert_eq!(s.secs("N", 1, 20).unwrap(), Duration::from_secs(20));
        assert_eq!(s.days("N", 1).unwrap(), Duration::from_secs(12 * 86_400));
        assert_eq!(s.text_or("EMPTY", "d"), "d");
        let secrets = settings(&[("SHORT", "abc"), ("LONG", "abcdef")]);
        assert!(
            secrets
                .secret("SHORT", 4)
                .unwrap_err()
                .to_string()
                .contains("SHORT")
        );
        assert_eq!(
            secrets.secret("LONG", 4).unwrap().as_deref(),
            Some("abcdef")
        );
        assert_eq!(secrets.secret("UNSET", 4).unwrap(), None);
    }

    #[test]
    fn a_service_database_lives_beside_the_shared_one() {
        let sqlite = settings(&[("DATABASE_URL", "sqlite:///var/lib/c/conversations.db")]);
        assert_eq!(
            sqlite.database_url("OWN_URL", "own.db"),
            "sqlite:///var/lib/c/own.db"
        );
        let pg = settings(&[("DATABASE_URL", "postgres://db/conv")]);
        assert_eq!(pg.database_url("OWN_URL", "own.db"), "postgres://db/conv");
        let own = settings(&[("OWN_URL", "postgres://db/own")]);
        assert_eq!(own.database_url("OWN_URL", "own.db"), "postgres://db/own");
    }
}
