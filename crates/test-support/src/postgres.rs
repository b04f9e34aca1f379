//! Throwaway PostgreSQL databases for tests and benchmarks: one per test, uniquely named,
//! dropped afterwards, so parallel test runs on one server never see each other's rows.
//!
//! The server comes from `TEST_POSTGRES_URL` (default: the local trust-auth server).
//! Connections made through these URLs do not negotiate TLS unless the URL asks for it:
//! libpq then never initialises OpenSSL, whose exit-time cleanup otherwise races with
//! connection-pool threads still reconnecting when a test binary exits (a SIGSEGV after
//! "test result: ok", diesel issue 3441). Production URLs are untouched.

use diesel::{Connection, PgConnection, RunQueryDsl};

/// Default admin connection: the local server of CI and of scripts/test.
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Why a test database could not be made or removed.
#[derive(Debug)]
pub struct TestDatabaseError(pub String);

impl std::fmt::Display for TestDatabaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (is PostgreSQL running? scripts/test starts it; TEST_POSTGRES_URL overrides the server)",
            self.0
        )
    }
}

impl std::error::Error for TestDatabaseError {}

/// The connection tests create and drop their databases through.
pub fn admin_url() -> String {
    let url = std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
    without_tls_by_default(&url)
}

/// The URL of database `name` on the same server as `admin`, keeping its query options.
pub fn database_url(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin, None),
    };
    // The path starts at the first '/' after "scheme://authority".
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

fn without_tls_by_default(url: &str) -> String {
    if url.contains("sslmode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&sslmode=disable")
    } else {
        format!("{url}?sslmode=disable")
    }
}

/// A database that exists for one test; dropped (with its open connections) when this
/// value is dropped. Drop it only after the pools using it are gone where possible.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates `<prefix>_<uuid>` on the test server. Blocking.
    pub fn create(prefix: &str) -> Result<Self, TestDatabaseError> {
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let admin = admin_url();
        let mut conn = PgConnection::establish(&admin)
            .map_err(|e| TestDatabaseError(format!("cannot connect to {admin}: {e}")))?;
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .map_err(|e| TestDatabaseError(format!("cannot create database {name}: {e}")))?;
        let url = database_url(&admin, &name);
        Ok(Self { name, url })
    }

    /// A connection URL for the services under test.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&admin_url()) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_keep_the_server_and_options() {
        assert_eq!(
            database_url("postgres://u@h:5432/postgres", "t1"),
            "postgres://u@h:5432/t1"
        );
        assert_eq!(
            database_url("postgres://u:p@h/postgres?sslmode=disable", "t1"),
            "postgres://u:p@h/t1?sslmode=disable"
        );
        assert_eq!(database_url("postgres://h", "t1"), "postgres://h/t1");
    }

    #[test]
    fn tls_is_off_unless_asked_for() {
        assert_eq!(
            without_tls_by_default("postgres://h/db"),
            "postgres://h/db?sslmode=disable"
        );
        assert_eq!(
            without_tls_by_default("postgres://h/db?application_name=x"),
            "postgres://h/db?application_name=x&sslmode=disable"
        );
        assert_eq!(
            without_tls_by_default("postgres://h/db?sslmode=require"),
            "postgres://h/db?sslmode=require"
        );
    }
}
