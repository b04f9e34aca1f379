//! The projection's secret, the key of its contact ids ([`ContactIds`]): `CONTACT_ID_SECRET`
//! when the operator sets one (replicas that keep separate projections must share it), else
//! the one in `mq_secret`, made by the first start that finds none (replicas sharing the
//! database share it). Whenever the key in use differs from the one the stored ids were
//! made with (the first start of this version over unkeyed SHA-256 ids, a newly set or
//! changed `CONTACT_ID_SECRET`), every stored id is re-keyed in the same transaction that
//! records the new key, so no row is left with an id of another key.

use conversations_db::AnyConnection;
use conversations_db::statement::{Statement, Value, rows_per_statement};
use data_encoding::HEXLOWER;
use diesel::prelude::*;
use rand::RngCore;

use super::apply::lock_projection;
use crate::error::MetadataError;
use crate::projection::ContactIds;
use crate::schema::mq_contacts;

diesel::table! {
    mq_secret (id) {
        id -> Integer,
        contact_key -> Text,
    }
}

/// The columns that hold contact ids, besides `mq_contacts.id`.
const CONTACT_COLUMNS: [(&str, &str); 3] = [
    ("mq_memberships", "contact_id"),
    ("mq_conversations", "last_message_sender_contact"),
    ("mq_messages", "sender_contact"),
];

/// The contact-id key: `configured`, else the stored one, else a new one; the projection
/// is re-keyed when it changes.
pub(super) fn load_or_create(
    conn: &mut AnyConnection,
    configured: Option<&[u8]>,
) -> Result<ContactIds, MetadataError> {
    conn.transaction::<_, MetadataError, _>(|conn| {
        // One writer: replicas starting together wait here, and the first makes the key.
        lock_projection(conn)?;
        let stored: Option<String> = mq_secret::table
            .filter(mq_secret::id.eq(1))
            .select(mq_secret::contact_key)
            .first(conn)
            .optional()?;
        let stored = stored
            .map(|key| HEXLOWER.decode(key.as_bytes()))
            .transpose()
            .map_err(|e| MetadataError::Unavailable(format!("mq_secret is damaged: {e}")))?;
        let key = match (configured, &stored) {
            (Some(configured), _) => configured.to_vec(),
            (None, Some(stored)) => stored.clone(),
            (None, None) => {
                let mut key = vec![0u8; 32];
                rand::rng().fill_bytes(&mut key);
                key
            }
        };
        let ids = ContactIds::new(&key);
        if stored.as_deref() != Some(key.as_slice()) {
            diesel::delete(mq_secret::table).execute(conn)?;
            diesel::insert_into(mq_secret::table)
                .values((
                    mq_secret::id.eq(1),
                    mq_secret::contact_key.eq(HEXLOWER.encode(&key)),
                ))
                .execute(conn)?;
            rekey(conn, &ids)?;
        }
        Ok(ids)
    })
}

/// Gives every stored contact its keyed id, in every column that holds one.
fn rekey(conn: &mut AnyConnection, ids: &ContactIds) -> Result<(), MetadataError> {
    let contacts: Vec<(String, String, String)> = mq_contacts::table
        .select((mq_contacts::id, mq_contacts::app_id, mq_contacts::email))
        .load(conn)?;
    if contacts.is_empty() {
        return Ok(());
    }
    tracing::warn!(
        contacts = contacts.len(),
        "re-keying contact ids: the projection's contact-id key changed (first start over \
         unkeyed ids, or CONTACT_ID_SECRET set or changed); stored contact ids change"
    );
    let pairs: Vec<(String, String)> = contacts
        .into_iter()
        .map(|(old, app, email)| {
            let new = ids.id(&app, &email);
            (old, new)
        })
        .collect();
    Statement::new("CREATE TABLE mq_rekey (old_id TEXT PRIMARY KEY, new_id TEXT NOT NULL)")
        .execute(conn)?;
    for chunk in pairs.chunks(rows_per_statement(2)) {
        let mut insert = Statement::new("INSERT INTO mq_rekey (old_id, new_id) VALUES ");
        for (old, new) in chunk {
            insert.row(&[Value::Text(old), Value::Text(new)]);
        }
        insert.execute(conn)?;
    }
    for (table, column) in [("mq_contacts", "id")].into_iter().chain(CONTACT_COLUMNS) {
        Statement::new(format!(
            "UPDATE {table} SET {column} = (SELECT new_id FROM mq_rekey WHERE old_id = {table}.{column}) \
             WHERE {column} IN (SELECT old_id FROM mq_rekey)"
        ))
        .execute(conn)?;
    }
    Statement::new("DROP TABLE mq_rekey").execute(conn)?;
    Ok(())
}
