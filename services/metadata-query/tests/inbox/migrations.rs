//! The projection's migrations run up, down and up again on both backends, so a broken
//! `down.sql` shows here rather than during a production rollback.

use conversations_store::Backend;
use conversations_test_support::TestDatabase;
use metadata_query::store::{migrate, redo_migrations};

fn round_trip(url: &str) {
    let backend = Backend::from_url(url).unwrap();
    migrate(&backend).unwrap();
    redo_migrations(&backend).unwrap();
    // And the store opens on the result.
    metadata_query::InboxStore::open(url, 1).unwrap();
}

#[test]
fn migrations_run_up_down_and_up_again_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    round_trip(&format!("sqlite://{}/metadata.db", dir.path().display()));
}

#[test]
fn migrations_run_up_down_and_up_again_on_postgres() {
    let db = TestDatabase::create("conv_mq_migrations").unwrap();
    round_trip(db.url());
}
