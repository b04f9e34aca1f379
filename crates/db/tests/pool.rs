//! The pool on a real PostgreSQL database: when the server drops every connection (as a
//! restart does), one request finds out and every later one gets a fresh connection,
//! without the pool checking each checkout with a round trip all the time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use conversations_db::{Backend, build_pool};
use conversations_test_support::{TestDatabase, postgres::admin_url};
use diesel::{Connection, PgConnection, RunQueryDsl};

#[test]
fn after_the_server_drops_its_connections_only_one_request_fails() {
    let db = TestDatabase::create("db_pool").unwrap();
    let name = db
        .url()
        .rsplit('/')
        .next()
        .and_then(|rest| rest.split('?').next())
        .unwrap()
        .to_owned();
    let pool = build_pool(&Backend::from_url(db.url()).unwrap(), 4).unwrap();
    let query = |pool: &conversations_db::DbPool| {
        let mut conn = pool.get().expect("a connection");
        diesel::sql_query("SELECT 1").execute(&mut *conn)
    };
    // Four connections open and used.
    {
        let held: Vec<_> = (0..4).map(|_| pool.get().unwrap()).collect();
        assert_eq!(held.len(), 4);
    }
    query(&pool).unwrap();

    let mut admin = PgConnection::establish(&admin_url()).unwrap();
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .execute(&mut admin)
    .unwrap();

    let failures = (0..10).filter(|_| query(&pool).is_err()).count();
    assert!(
        failures <= 1,
        "{failures} of 10 requests failed on connections the server had closed"
    );
    drop(pool);
}
