//! Bounces and the suppression list. A permanent failure suppresses the address at once;
//! transient ones suppress once `limit` of them arrive within the window. Every change
//! writes its `address_*` event to the outbox in the same transaction, so the notifier
//! learns of it exactly as it happened.

use chrono::{DateTime, NaiveDateTime, Utc};
use conversations_db::{DbError, OutboxEvent};
use conversations_events::v1::envelope::Payload;
use conversations_events::v1::{AddressSuppressed, AddressUnsuppressed};
use diesel::prelude::*;
use serde::Serialize;

use super::schema::{im_bounces as bounces, im_suppressions as suppressions};
use super::{InboundStore, LogEntry, OUTBOX_TABLE, insert, naive};

/// A bounce to record with its log entry.
#[derive(Debug, Clone)]
pub struct Bounced<'a> {
    /// The application.
    pub app_id: &'a str,
    /// The address that failed, lower-case.
    pub email: &'a str,
    /// A permanent failure (5.x.x).
    pub permanent: bool,
    /// The enhanced status code, when the report gave one.
    pub status: Option<&'a str>,
    /// Transient bounces within `window` that suppress.
    pub transient_limit: i64,
    /// The window transient bounces are counted in.
    pub window: chrono::TimeDelta,
}

/// A suppressed address.
#[derive(Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = suppressions)]
pub struct Suppression {
    /// The address.
    pub email: String,
    /// Why.
    pub reason: String,
    /// Since when.
    #[serde(serialize_with = "super::as_utc")]
    pub created_at: NaiveDateTime,
}

fn event(app_id: &str, payload: Payload, now: DateTime<Utc>) -> OutboxEvent {
    let event_type = match &payload {
        Payload::AddressSuppressed(_) => "address_suppressed",
        _ => "address_unsuppressed",
    };
    conversations_bus::outbox_event(
        conversations_bus::EventHeader {
            event_type,
            app_id,
            conversation_id: "",
            conversation_seq: 0,
        },
        now,
        payload,
    )
}

impl InboundStore {
    /// Records a bounce with the mail's log entry; suppresses the address when the bounce
    /// is permanent or the transient ones reached the limit. Returns whether it is (now)
    /// suppressed.
    pub fn record_bounce(
        &self,
        entry: &LogEntry,
        bounce: &Bounced<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        conn.transaction(|conn| {
            insert(conn, entry)?;
            diesel::insert_into(bounces::table)
                .values((
                    bounces::id.eq(uuid::Uuid::now_v7().to_string()),
                    bounces::app_id.eq(bounce.app_id),
                    bounces::email.eq(bounce.email),
                    bounces::permanent.eq(bounce.permanent),
                    bounces::status.eq(bounce.status),
                    bounces::received_at.eq(naive(now)),
                ))
                .execute(conn)?;
            let already: i64 = suppressions::table
                .filter(suppressions::app_id.eq(bounce.app_id))
                .filter(suppressions::email.eq(bounce.email))
                .count()
                .get_result(conn)?;
            if already > 0 {
                return Ok(true);
            }
            let reason = if bounce.permanent {
                format!("permanent bounce {}", bounce.status.unwrap_or("5.0.0"))
            } else {
                let recent: i64 = bounces::table
                    .filter(bounces::app_id.eq(bounce.app_id))
                    .filter(bounces::email.eq(bounce.email))
                    .filter(bounces::received_at.ge(naive(now - bounce.window)))
                    .count()
                    .get_result(conn)?;
                if recent < bounce.transient_limit {
                    return Ok(false);
                }
                format!("{recent} transient bounces")
            };
            diesel::insert_into(suppressions::table)
                .values((
                    suppressions::app_id.eq(bounce.app_id),
                    suppressions::email.eq(bounce.email),
                    suppressions::reason.eq(&reason),
                    suppressions::created_at.eq(naive(now)),
                ))
                .execute(conn)?;
            let payload = Payload::AddressSuppressed(AddressSuppressed {
                email: bounce.email.to_owned(),
                reason,
            });
            conversations_db::outbox::insert(
                conn,
                OUTBOX_TABLE,
                &[event(bounce.app_id, payload, now)],
                now,
            )?;
            Ok(true)
        })
    }

    /// The suppressed addresses of `app`, in address order after `after`.
    pub fn suppressions(
        &self,
        app: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Suppression>, DbError> {
        let mut conn = self.conn()?;
        let mut query = suppressions::table
            .filter(suppressions::app_id.eq(app))
            .order(suppressions::email.asc())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .select(Suppression::as_select())
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(suppressions::email.gt(after.to_owned()));
        }
        Ok(query.load(&mut conn)?)
    }

    /// Lifts a suppression (and forgets the address's bounces, so one more transient
    /// bounce does not suppress it again at once). Returns whether there was one.
    pub fn lift_suppression(
        &self,
        app: &str,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        conn.transaction(|conn| {
            let removed = diesel::delete(
                suppressions::table
                    .filter(suppressions::app_id.eq(app))
                    .filter(suppressions::email.eq(email)),
            )
            .execute(conn)?;
            diesel::delete(
                bounces::table
                    .filter(bounces::app_id.eq(app))
                    .filter(bounces::email.eq(email)),
            )
            .execute(conn)?;
            if removed == 0 {
                return Ok(false);
            }
            let payload = Payload::AddressUnsuppressed(AddressUnsuppressed {
                email: email.to_owned(),
            });
            conversations_db::outbox::insert(conn, OUTBOX_TABLE, &[event(app, payload, now)], now)?;
            Ok(true)
        })
    }
}
