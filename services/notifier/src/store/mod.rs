//! The notifier's own database (tables prefixed `nt_`): deliveries, the suppression list,
//! its position in conversation-api's outbox (all-in-one), and its own outbox of
//! notification events. Blocking; async callers use `spawn_blocking`.

mod deliveries;
mod schema;
mod suppressions;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};

use conversations_db::{Db, DbError, Migrations, Outbox};

pub use deliveries::{Delivery, DeliveryOutcome, DeliveryStatus, NewDelivery};
use schema::nt_checkpoint;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// The notifier's migration sets.
pub const MIGRATIONS: Migrations = Migrations {
    postgres: || POSTGRES_MIGRATIONS,
    sqlite: || SQLITE_MIGRATIONS,
};

/// The `nt_checkpoint` row of the all-in-one's position in inbound-mail's outbox (row 1 is
/// conversation-api's).
pub const SUPPRESSIONS_CHECKPOINT: i32 = 2;

/// The notifier's outbox table and its relay's lease row.
pub(crate) const OUTBOX_TABLE: &str = "nt_outbox";
const OUTBOX_LEASE: &str = "nt_outbox_lease";

fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The notifier's store.
#[derive(Clone, Debug)]
pub struct NotifierStore {
    db: Db,
}

impl NotifierStore {
    /// Connects, applies the notifier's pending migrations, and opens a pool.
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

    /// The notifier's outbox, for its relay (and, in the all-in-one, metadata-query).
    pub fn outbox(&self) -> Outbox {
        Outbox::new(self.db.clone(), OUTBOX_TABLE, OUTBOX_LEASE)
    }

    /// All-in-one: the position in conversation-api's outbox handled so far. The first
    /// start records `head` (the outbox's position then): a notifier added to an existing
    /// system mails what is posted from now on, not the whole history.
    pub fn feed_position_or_start_at(&self, head: i64) -> Result<i64, DbError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        conn.transaction(|conn| {
            let position: Option<i64> = nt_checkpoint::table
                .filter(nt_checkpoint::id.eq(1))
                .select(nt_checkpoint::feed_position)
                .first(conn)
                .optional()?;
            if let Some(position) = position {
                return Ok(position);
            }
            diesel::insert_into(nt_checkpoint::table)
                .values((
                    nt_checkpoint::id.eq(1),
                    nt_checkpoint::feed_position.eq(head),
                ))
                .execute(conn)?;
            Ok(head)
        })
    }

    /// All-in-one: the position in conversation-api's outbox handled so far (`None`
    /// before the first start).
    pub fn feed_position(&self) -> Result<Option<i64>, DbError> {
        let mut conn = self.conn()?;
        Ok(nt_checkpoint::table
            .filter(nt_checkpoint::id.eq(1))
            .select(nt_checkpoint::feed_position)
            .first(&mut *conn)
            .optional()?)
    }

    /// The position recorded under checkpoint `id` (0 before the first).
    pub fn checkpoint(&self, id: i32) -> Result<i64, DbError> {
        let mut conn = self.conn()?;
        Ok(nt_checkpoint::table
            .filter(nt_checkpoint::id.eq(id))
            .select(nt_checkpoint::feed_position)
            .first(&mut *conn)
            .optional()?
            .unwrap_or(0))
    }

    /// Records `position` under checkpoint `id`.
    pub fn set_checkpoint(&self, id: i32, position: i64) -> Result<(), DbError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        conn.transaction(|conn| {
            let updated = diesel::update(nt_checkpoint::table.filter(nt_checkpoint::id.eq(id)))
                .set(nt_checkpoint::feed_position.eq(position))
                .execute(conn)?;
            if updated == 0 {
                diesel::insert_into(nt_checkpoint::table)
                    .values((
                        nt_checkpoint::id.eq(id),
                        nt_checkpoint::feed_position.eq(position),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })
    }

    /// Records that feed events up to `position` needed nothing (no notification).
    pub fn skip_to(&self, position: i64) -> Result<(), DbError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        deliveries::set_feed_position(&mut conn, position)
    }
}
