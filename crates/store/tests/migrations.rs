//! Every migration runs up, down and up again on both backends (a broken `down.sql`
//! would otherwise only show during a production rollback).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use conversations_store::{Backend, Store, migrate, redo_all_migrations};
use conversations_test_support::TestDatabase;

fn check(url: &str) {
    let backend = Backend::from_url(url).unwrap();
    migrate(&backend).unwrap();
    redo_all_migrations(&backend).unwrap();
    let store = Store::open(url, 1).unwrap();
    let created = store
        .create_application("app", chrono::Utc::now(), |issued| {
            conversations_store::OutboxEvent {
                event_id: uuid::Uuid::now_v7().to_string(),
                app_id: issued.app_id.to_string(),
                conversation_id: String::new(),
                conversation_seq: 0,
                event_type: "application_key_issued".to_owned(),
                payload: issued.key_hash.as_bytes().to_vec(),
                trace_context: None,
            }
        })
        .unwrap();
    // Committed events reach the feed once the relay has given them positions.
    assert!(store.events_after(0, 10).unwrap().is_empty());
    store
        .outbox()
        .sequence(
            "test",
            chrono::Utc::now(),
            chrono::Duration::seconds(5),
            10,
            false,
        )
        .unwrap();
    let feed = store.events_after(0, 10).unwrap();
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0].position, 1);
    assert_eq!(feed[0].event_type, "application_key_issued");
    assert_eq!(
        store.authenticate(&created.key).unwrap(),
        Some(created.app_id)
    );
    assert_eq!(store.authenticate("cvk_wrong").unwrap(), None);
}

#[test]
fn sqlite_migrations_run_up_down_and_up_again() {
    let dir = tempfile::tempdir().unwrap();
    check(&format!(
        "sqlite://{}/nested/db.sqlite",
        dir.path().display()
    ));
}

#[test]
fn postgres_migrations_run_up_down_and_up_again() {
    let db = TestDatabase::create("conv_migrations").unwrap();
    check(db.url());
}

#[test]
fn unsupported_database_urls_are_refused_clearly() {
    let err = Backend::from_url("mysql://localhost/x").unwrap_err();
    assert!(err.to_string().contains("postgres://"));
}

#[test]
fn replicas_migrating_a_fresh_postgres_database_together_all_start() {
    let db = TestDatabase::create("conv_migration_race").unwrap();
    let backend = Backend::from_url(db.url()).unwrap();
    let outcomes: Vec<_> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| migrate(&backend).map_err(|e| e.to_string())))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let store = Store::open(db.url(), 1).unwrap();
    assert_eq!(store.authenticate("cvk_nothing").unwrap(), None);
}
