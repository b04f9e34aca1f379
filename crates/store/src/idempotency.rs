//! Responses stored under an `Idempotency-Key`, so a retried POST replays the first
//! answer instead of acting twice.

use chrono::{DateTime, Utc};
use conversations_domain::AppId;
use diesel::prelude::*;

use crate::connection::Store;
use crate::error::{StoreError, is_unique_violation};
use crate::rows::naive;
use crate::schema::idempotency_keys;
use conversations_db::AnyConnection;

/// The first response given for a key, and what request it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// Hash of method, path and body of the request.
    pub request_hash: String,
    /// HTTP status.
    pub status: u16,
    /// The `Location` header, if any.
    pub location: Option<String>,
    /// The JSON body.
    pub body: String,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
struct IdempotencyRow {
    app_id: String,
    idem_key: String,
    request_hash: String,
    status: i32,
    location: Option<String>,
    body: String,
    created_at: chrono::NaiveDateTime,
}

impl Store {
    /// The response stored for this application's key, if any.
    pub fn idempotent_response(
        &self,
        app: AppId,
        key: &str,
    ) -> Result<Option<StoredResponse>, StoreError> {
        let mut conn = self.conn()?;
        let row = idempotency_keys::table
            .filter(idempotency_keys::app_id.eq(app.to_string()))
            .filter(idempotency_keys::idem_key.eq(key))
            .select(IdempotencyRow::as_select())
            .first(&mut *conn)
            .optional()?;
        Ok(row.map(|r| StoredResponse {
            request_hash: r.request_hash,
            status: u16::try_from(r.status).unwrap_or(500),
            location: r.location,
            body: r.body,
        }))
    }
}

impl Store {
    /// Deletes responses stored before `before`; returns how many.
    pub fn prune_idempotent_responses(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        Ok(diesel::delete(
            idempotency_keys::table.filter(idempotency_keys::created_at.lt(naive(before))),
        )
        .execute(&mut *conn)?)
    }
}

pub(crate) fn insert_response(
    conn: &mut AnyConnection,
    app: AppId,
    key: &str,
    response: &StoredResponse,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::insert_into(idempotency_keys::table)
        .values(IdempotencyRow {
            app_id: app.to_string(),
            idem_key: key.to_owned(),
            request_hash: response.request_hash.clone(),
            status: i32::from(response.status),
            location: response.location.clone(),
            body: response.body.clone(),
            created_at: naive(now),
        })
        .execute(conn)
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::IdempotencyRace
            } else {
                e.into()
            }
        })?;
    Ok(())
}
