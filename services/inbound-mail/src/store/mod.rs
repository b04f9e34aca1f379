//! inbound-mail's own database (tables prefixed `im_`): the incoming log, the bounces
//! received, the suppression list, and its outbox of `address_*` events. Blocking; async
//! callers use `spawn_blocking`.

mod erasure;
mod notices;
mod schema;
mod suppressions;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use serde::Serialize;

use conversations_db::{AnyConnection, Db, DbError, Migrations, Outbox};

use crate::decide::Outcome;
use schema::im_inbound as log;

pub use notices::Notice;
pub use suppressions::{Bounced, Suppression};

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// inbound-mail's migration sets.
pub const MIGRATIONS: Migrations = Migrations {
    postgres: || POSTGRES_MIGRATIONS,
    sqlite: || SQLITE_MIGRATIONS,
};

/// inbound-mail's outbox table and its relay's lease row.
pub const OUTBOX_TABLE: &str = "im_outbox";
const OUTBOX_LEASE: &str = "im_outbox_lease";

fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

/// What extraction and the MTA said about a mail (the log's `details` column).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Details {
    /// The envelope recipient the MTA gave, when it did.
    pub envelope_recipient: Option<String>,
    /// The text posted (or that would have been).
    pub reply_text: Option<String>,
    /// What was cut from it.
    pub elided_text: Option<String>,
    /// The rule that cut it.
    pub rule: Option<String>,
    /// How sure the cut is.
    pub confidence: Option<String>,
    /// The attachments' names (attachments are not stored yet).
    #[serde(default)]
    pub attachments: Vec<String>,
}

/// One mail in the incoming log.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    /// The inbound id (UUIDv7: sorts by arrival).
    pub id: String,
    /// The application, once the reply address named one.
    pub app_id: Option<String>,
    /// When it arrived.
    #[serde(serialize_with = "as_utc")]
    pub received_at: NaiveDateTime,
    /// The `From` address.
    pub sender: String,
    /// Our address the mail was sent to.
    pub reply_address: Option<String>,
    /// The `Message-ID` (or the digest of a mail without one).
    pub message_id: String,
    /// What de-duplication compares: application and Message-ID.
    #[serde(skip)]
    pub dedupe_key: String,
    /// `Subject`.
    pub subject: String,
    /// Size of the raw mail.
    pub size_bytes: i64,
    /// posted, duplicate, auto_reply, bounce, rejected, held, error.
    pub outcome: String,
    /// Why.
    pub reason: String,
    /// The conversation it was for.
    pub conversation_id: Option<String>,
    /// The participant it was from.
    pub participant_id: Option<String>,
    /// The message it became.
    pub message_seq: Option<i64>,
    /// Extraction and envelope details.
    #[serde(flatten)]
    pub details: Details,
    /// The raw mail, until `INBOUND_RETENTION_DAYS` have passed.
    #[serde(skip)]
    pub raw_message: Option<Vec<u8>>,
}

/// A row of `im_inbound`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = log)]
struct LogRow {
    id: String,
    app_id: Option<String>,
    received_at: NaiveDateTime,
    sender: String,
    reply_address: Option<String>,
    message_id: String,
    dedupe_key: String,
    subject: String,
    size_bytes: i64,
    outcome: String,
    reason: String,
    conversation_id: Option<String>,
    participant_id: Option<String>,
    message_seq: Option<i64>,
    details: String,
    raw_message: Option<Vec<u8>>,
}

impl From<LogRow> for LogEntry {
    fn from(r: LogRow) -> Self {
        Self {
            id: r.id,
            app_id: r.app_id,
            received_at: r.received_at,
            sender: r.sender,
            reply_address: r.reply_address,
            message_id: r.message_id,
            dedupe_key: r.dedupe_key,
            subject: r.subject,
            size_bytes: r.size_bytes,
            outcome: r.outcome,
            reason: r.reason,
            conversation_id: r.conversation_id,
            participant_id: r.participant_id,
            message_seq: r.message_seq,
            details: serde_json::from_str(&r.details).unwrap_or_default(),
            raw_message: r.raw_message,
        }
    }
}

fn as_utc<S: serde::Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(
        &t.and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    )
}

fn details_json(e: &LogEntry) -> String {
    serde_json::to_string(&e.details).unwrap_or_else(|_| "{}".to_owned())
}

/// A page of the incoming log.
#[derive(Debug, Clone)]
pub struct LogPage {
    /// Newest first.
    pub entries: Vec<LogEntry>,
    /// The id to continue before, when there may be more.
    pub next: Option<String>,
}

/// inbound-mail's store.
#[derive(Clone, Debug)]
pub struct InboundStore {
    db: Db,
}

impl InboundStore {
    /// Connects, applies inbound-mail's pending migrations, and opens a pool.
    pub fn open(database_url: &str, pool_size: u32) -> Result<Self, DbError> {
        Ok(Self {
            db: Db::open(database_url, pool_size, MIGRATIONS)?,
        })
    }

    fn conn(&self) -> Result<conversations_db::DbConnection, DbError> {
        self.db.conn()
    }

    fn write_guard(&self) -> Option<std::sync::MutexGuard<'_, ()>> {
        self.db.write_guard()
    }

    /// Checks that the database answers.
    pub fn ping(&self) -> Result<(), DbError> {
        self.db.ping()
    }

    /// inbound-mail's outbox, for its relay (and, in the all-in-one, the notifier).
    pub fn outbox(&self) -> Outbox {
        Outbox::new(self.db.clone(), OUTBOX_TABLE, OUTBOX_LEASE)
    }

    /// Adds a mail to the log.
    pub fn record(&self, entry: &LogEntry) -> Result<(), DbError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        insert(&mut conn, entry)
    }

    /// Replaces a logged mail's outcome (a replay).
    pub fn update(&self, entry: &LogEntry) -> Result<(), DbError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        diesel::update(log::table.filter(log::id.eq(&entry.id)))
            .set((
                log::app_id.eq(&entry.app_id),
                log::outcome.eq(&entry.outcome),
                log::reason.eq(&entry.reason),
                log::conversation_id.eq(&entry.conversation_id),
                log::participant_id.eq(&entry.participant_id),
                log::message_seq.eq(entry.message_seq),
                log::details.eq(details_json(entry)),
            ))
            .execute(&mut conn)?;
        Ok(())
    }

    /// The two questions asked of every reply before it is posted, in one query: was the
    /// same mail (same application and Message-ID) handled before, settling it (any
    /// outcome but an error or a duplicate; `except` is an entry being replayed), and if
    /// not, how many mails came from `sender` to `conversation` since `since` (the loop
    /// cap). The rows of both questions are read together (a handful: the loop cap keeps
    /// the second small) and told apart here; the earlier entry itself is read only when
    /// there is one.
    pub fn prechecks(
        &self,
        dedupe_key: &str,
        except: Option<&str>,
        conversation: &str,
        sender: &str,
        since: DateTime<Utc>,
    ) -> Result<(Option<LogEntry>, i64), DbError> {
        let mut conn = self.conn()?;
        let since = naive(since);
        let rows: Vec<(
            String,
            String,
            String,
            Option<String>,
            String,
            NaiveDateTime,
        )> = log::table
            .filter(
                log::dedupe_key.eq(dedupe_key).or(log::conversation_id
                    .eq(conversation)
                    .and(log::sender.eq(sender))
                    .and(log::received_at.ge(since))),
            )
            .select((
                log::id,
                log::dedupe_key,
                log::outcome,
                log::conversation_id,
                log::sender,
                log::received_at,
            ))
            .order(log::received_at.asc())
            .load(&mut conn)?;
        let settled = |outcome: &str| {
            outcome != Outcome::Error.as_str() && outcome != Outcome::Duplicate.as_str()
        };
        let earlier = rows.iter().find(|(id, key, outcome, ..)| {
            key == dedupe_key && settled(outcome) && Some(id.as_str()) != except
        });
        if let Some((id, ..)) = earlier {
            let before = log::table
                .filter(log::id.eq(id))
                .select(LogRow::as_select())
                .first(&mut conn)
                .optional()?
                .map(LogEntry::from);
            return Ok((before, 0));
        }
        let recent = rows
            .iter()
            .filter(|(_, _, _, c, s, at)| {
                c.as_deref() == Some(conversation) && s == sender && *at >= since
            })
            .count();
        Ok((None, i64::try_from(recent).unwrap_or(i64::MAX)))
    }

    /// One logged mail of `app`.
    pub fn entry(&self, app: &str, id: &str) -> Result<Option<LogEntry>, DbError> {
        let mut conn = self.conn()?;
        Ok(log::table
            .filter(log::id.eq(id))
            .filter(log::app_id.eq(app))
            .select(LogRow::as_select())
            .first(&mut conn)
            .optional()?
            .map(LogEntry::from))
    }

    /// The log of `app`, newest first, optionally of one outcome, before `before` (an id).
    pub fn entries(
        &self,
        app: &str,
        outcome: Option<Outcome>,
        before: Option<&str>,
        limit: usize,
    ) -> Result<LogPage, DbError> {
        let mut conn = self.conn()?;
        let mut query = log::table
            .filter(log::app_id.eq(app))
            .select(LogRow::as_select())
            .order(log::id.desc())
            .limit(i64::try_from(limit + 1).unwrap_or(i64::MAX))
            .into_boxed();
        if let Some(outcome) = outcome {
            query = query.filter(log::outcome.eq(outcome.as_str()));
        }
        if let Some(before) = before {
            query = query.filter(log::id.lt(before.to_owned()));
        }
        let rows: Vec<LogRow> = query.load(&mut conn)?;
        let mut entries: Vec<LogEntry> = rows.into_iter().map(LogEntry::from).collect();
        let next = (entries.len() > limit).then(|| {
            entries.truncate(limit);
            entries.last().map(|e| e.id.clone())
        });
        Ok(LogPage {
            entries,
            next: next.flatten(),
        })
    }

    /// Forgets the raw mails received before `before`; returns how many.
    pub fn prune_raw(&self, before: DateTime<Utc>) -> Result<usize, DbError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        Ok(diesel::update(
            log::table
                .filter(log::received_at.lt(naive(before)))
                .filter(log::raw_message.is_not_null()),
        )
        .set(log::raw_message.eq(None::<Vec<u8>>))
        .execute(&mut conn)?)
    }
}

/// Inserts a log entry; that of a mail whose conversation was deleted meanwhile keeps no
/// content.
fn insert(conn: &mut AnyConnection, entry: &LogEntry) -> Result<(), DbError> {
    let scrubbed;
    let mut e = entry;
    if let Some(conversation) = &entry.conversation_id
        && erasure::is_deleted(conn, conversation)?
    {
        scrubbed = erasure::scrubbed(entry);
        e = &scrubbed;
    }
    diesel::insert_into(log::table)
        .values((
            log::id.eq(&e.id),
            log::app_id.eq(&e.app_id),
            log::received_at.eq(e.received_at),
            log::sender.eq(&e.sender),
            log::reply_address.eq(&e.reply_address),
            log::message_id.eq(&e.message_id),
            log::dedupe_key.eq(&e.dedupe_key),
            log::subject.eq(&e.subject),
            log::size_bytes.eq(e.size_bytes),
            log::outcome.eq(&e.outcome),
            log::reason.eq(&e.reason),
            log::conversation_id.eq(&e.conversation_id),
            log::participant_id.eq(&e.participant_id),
            log::message_seq.eq(e.message_seq),
            log::details.eq(details_json(e)),
            log::raw_message.eq(&e.raw_message),
        ))
        .execute(conn)?;
    Ok(())
}
