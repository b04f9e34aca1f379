//! Rejection notices: a person whose reply was refused is told why, at most once a day per
//! address. The notice travels as a `rejection_notice` event (written with the mail's log
//! entry, in one transaction) to the notifier, which sends it.

use chrono::{DateTime, Utc};
use conversations_db::{DbError, OutboxEvent};
use conversations_events::v1::RejectionNotice;
use conversations_events::v1::envelope::Payload;
use diesel::prelude::*;

use super::schema::im_notices as notices;
use super::{InboundStore, LogEntry, OUTBOX_TABLE, insert};

/// A notice to send.
#[derive(Debug, Clone)]
pub struct Notice {
    /// The application the reply was for.
    pub app_id: String,
    /// The refused mail's sender.
    pub email: String,
    /// Why it was refused.
    pub reason: String,
    /// The refused mail's subject.
    pub subject: String,
    /// Its log entry.
    pub inbound_id: String,
    /// The conversation it was for (may be empty).
    pub conversation_id: String,
}

fn event(notice: &Notice, now: DateTime<Utc>) -> OutboxEvent {
    conversations_bus::outbox_event(
        conversations_bus::EventHeader {
            event_type: "rejection_notice",
            app_id: &notice.app_id,
            conversation_id: &notice.conversation_id,
            conversation_seq: 0,
        },
        now,
        Payload::RejectionNotice(RejectionNotice {
            email: notice.email.clone(),
            reason: notice.reason.clone(),
            subject: notice.subject.clone(),
            inbound_id: notice.inbound_id.clone(),
        }),
    )
}

impl InboundStore {
    /// Records a refused mail, and its notice unless one went to that address today.
    /// Returns whether the notice was queued.
    pub fn record_with_notice(
        &self,
        entry: &LogEntry,
        notice: &Notice,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        let day = now.format("%Y-%m-%d").to_string();
        let email = notice.email.trim().to_ascii_lowercase();
        conn.transaction(|conn| {
            insert(conn, entry)?;
            let sent: i64 = notices::table
                .filter(notices::app_id.eq(&notice.app_id))
                .filter(notices::email.eq(&email))
                .filter(notices::day.eq(&day))
                .count()
                .get_result(conn)?;
            if sent > 0 {
                return Ok(false);
            }
            diesel::insert_into(notices::table)
                .values((
                    notices::app_id.eq(&notice.app_id),
                    notices::email.eq(&email),
                    notices::day.eq(&day),
                ))
                .execute(conn)?;
            conversations_db::outbox::insert(conn, OUTBOX_TABLE, &[event(notice, now)], now)?;
            Ok(true)
        })
    }
}
