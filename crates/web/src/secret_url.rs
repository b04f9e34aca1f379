//! URLs from configuration that may carry a password (`postgres://user:pw@…`,
//! `amqp://guest:pw@…`, `smtp://user:pw@…`): usable as the string they are, but never shown
//! with the password by `Debug`. There is deliberately no `Display`: code that formats one
//! into text must say so (`expose`), so a log line cannot print it by accident.

use std::fmt;
use std::ops::Deref;

/// A URL that may hold a password.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Wraps `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its password, for the client that connects with it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with the password replaced by `***`, for logs and `Debug`.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
}

impl Deref for SecretUrl {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

/// `scheme://user:password@host…` → `scheme://user:***@host…`; also a `password=` query
/// parameter (libpq's form). Anything else is returned as it is.
fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest = &out[scheme_end + 3..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@')
            && let Some(colon) = rest[..at].find(':')
        {
            let (start, end) = (scheme_end + 3 + colon + 1, scheme_end + 3 + at);
            out.replace_range(start..end, "***");
        }
    }
    if let Some(query) = out.find('?') {
        let (base, params) = out.split_at(query + 1);
        let params: Vec<String> = params
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => p.to_owned(),
            })
            .collect();
        out = format!("{base}{}", params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        for (url, shown) in [
            (
                "postgres://app:s3cr3t@db:5432/conv?sslmode=require",
                "postgres://app:***@db:5432/conv?sslmode=require",
            ),
            ("amqp://guest:gu:est@mq/%2f", "amqp://guest:***@mq/%2f"),
            (
                "postgresql://db/conv?user=a&password=s3cr3t",
                "postgresql://db/conv?user=a&password=***",
            ),
            (
                "sqlite://./data/conversations.db",
                "sqlite://./data/conversations.db",
            ),
            ("smtp://mx:25", "smtp://mx:25"),
        ] {
            let secret = SecretUrl::new(url);
            assert_eq!(secret.redacted(), shown);
            assert!(!format!("{secret:?}").contains("s3cr3t"));
            assert_eq!(secret.expose(), url);
        }
    }
}
