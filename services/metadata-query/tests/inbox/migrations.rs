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

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// A projection built before contact ids were keyed (unkeyed SHA-256 ids, no secret) gets
/// the projection's secret at its next start and every stored id re-keyed with it; later
/// starts keep the same secret, so the ids stay.
#[test]
fn a_projection_with_unkeyed_contact_ids_is_rekeyed_once_at_start() {
    use diesel::{Connection, RunQueryDsl, SqliteConnection, sql_query};
    use sha2::{Digest, Sha256};

    let dir = tempfile::tempdir().unwrap();
    let path = format!("{}/metadata.db", dir.path().display());
    let url = format!("sqlite://{path}");
    drop(metadata_query::InboxStore::open(&url, 1).unwrap());
    let old = data_encoding::HEXLOWER.encode(&Sha256::digest(b"app-1\nfred@example.com"))[..32]
        .to_owned();
    let mut conn = SqliteConnection::establish(&path).unwrap();
    for statement in [
        "DELETE FROM mq_secret".to_owned(),
        format!(
            "INSERT INTO mq_contacts (id, app_id, email) VALUES ('{old}', 'app-1', 'fred@example.com')"
        ),
        format!(
            "INSERT INTO mq_messages (conversation_id, seq, app_id, sender_contact, source, body, created_at) \
             VALUES ('c-1', 1, 'app-1', '{old}', 'api', 'hi', '2026-12-01 10:00:00')"
        ),
    ] {
        sql_query(statement).execute(&mut conn).unwrap();
    }
    drop(conn);

    let store = metadata_query::InboxStore::open(&url, 1).unwrap();
    let new = store.contact_ids().id("app-1", "fred@example.com");
    assert_ne!(new, old);
    assert!(
        store.contact("app-1", &new).unwrap().is_some(),
        "the contact has its new id"
    );
    assert!(
        store.contact("app-1", &old).unwrap().is_none(),
        "and not its old one"
    );
    let mut conn = SqliteConnection::establish(&path).unwrap();
    let moved: Count = sql_query(format!(
        "SELECT COUNT(*) AS n FROM mq_messages WHERE sender_contact = '{new}'"
    ))
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(moved.n, 1, "the message's sender id is re-keyed too");
    drop(store);
    let again = metadata_query::InboxStore::open(&url, 1).unwrap();
    assert_eq!(again.contact_ids().id("app-1", "fred@example.com"), new);
    drop(again);

    // An operator who sets CONTACT_ID_SECRET (replicas with separate databases) moves
    // the ids to that key once; its next start changes nothing.
    let secret = b"the contact-id secret all replicas share";
    let configured = metadata_query::InboxStore::open_with(&url, 1, Some(secret)).unwrap();
    let shared = configured.contact_ids().id("app-1", "fred@example.com");
    assert_ne!(shared, new);
    assert!(configured.contact("app-1", &shared).unwrap().is_some());
    assert!(configured.contact("app-1", &new).unwrap().is_none());
    drop(configured);
    let elsewhere = tempfile::tempdir().unwrap();
    let other = metadata_query::InboxStore::open_with(
        &format!("sqlite://{}/metadata.db", elsewhere.path().display()),
        1,
        Some(secret),
    )
    .unwrap();
    assert_eq!(
        other.contact_ids().id("app-1", "fred@example.com"),
        shared,
        "another replica's own database, the same key: the same ids"
    );
}
