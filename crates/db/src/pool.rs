//! The connection pool, and when it checks a connection before handing it out.
//!
//! r2d2 runs `SELECT 1` on every checkout by default: a full round trip to the database
//! per request (per hand-over, in services that take several connections for one
//! request), measured as a third of all statements PostgreSQL ran under load. A connection
//! that was fine a moment ago is fine now, so [`Manager`] checks only when there is reason
//! to doubt: the pool saw no checkout for a while (the database may have restarted
//! meanwhile), or a connection broke recently (its siblings are probably stale too). Then
//! every checkout checks until the doubt has passed, and stale connections are replaced at
//! checkout instead of failing a request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::r2d2::{ConnectionManager, ManageConnection, Pool, PooledConnection, R2D2Connection};

use crate::connection::AnyConnection;

/// After this long without a checkout, the next one checks its connection.
const IDLE_DOUBT: Duration = Duration::from_secs(5);
/// For this long after a connection broke, every checkout checks.
const BROKEN_DOUBT: Duration = Duration::from_secs(30);

/// The pool every service's store holds.
pub type DbPool = Pool<Manager>;
/// A connection taken from a [`DbPool`].
pub type DbConnection = PooledConnection<Manager>;

/// diesel's r2d2 manager, with checkouts checked only when in doubt (see the module).
#[derive(Debug)]
pub struct Manager {
    inner: ConnectionManager<AnyConnection>,
    health: Arc<Health>,
}

/// When the pool last knew its connections good, and last saw one break, as milliseconds
/// since `epoch` (0: never).
#[derive(Debug)]
struct Health {
    epoch: Instant,
    last_good: AtomicU64,
    last_broken: AtomicU64,
}

impl Health {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn doubtful(&self) -> bool {
        let now = self.now();
        let since = |at: &AtomicU64| match at.load(Ordering::Relaxed) {
            0 => None,
            at => Some(Duration::from_millis(now.saturating_sub(at))),
        };
        since(&self.last_good).is_none_or(|idle| idle > IDLE_DOUBT)
            || since(&self.last_broken).is_some_and(|ago| ago < BROKEN_DOUBT)
    }

    fn good(&self) {
        self.last_good.store(self.now(), Ordering::Relaxed);
    }

    fn broken(&self) {
        self.last_broken.store(self.now(), Ordering::Relaxed);
    }
}

impl Manager {
    /// A manager for `url` (a PostgreSQL URL or a SQLite path).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            inner: ConnectionManager::new(url),
            health: Arc::new(Health {
                epoch: Instant::now(),
                last_good: AtomicU64::new(0),
                last_broken: AtomicU64::new(0),
            }),
        }
    }
}

impl ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, Self::Error> {
        self.inner.connect()
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), Self::Error> {
        if !self.health.doubtful() {
            self.health.good();
            return Ok(());
        }
        match conn.ping() {
            Ok(()) => {
                self.health.good();
                Ok(())
            }
            Err(e) => {
                self.health.broken();
                Err(diesel::r2d2::Error::QueryError(e))
            }
        }
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        let broken = conn.is_broken();
        if broken {
            self.health.broken();
        }
        broken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkouts_are_checked_only_when_in_doubt() {
        let health = Health {
            epoch: Instant::now() - Duration::from_secs(100),
            last_good: AtomicU64::new(0),
            last_broken: AtomicU64::new(0),
        };
        assert!(health.doubtful(), "never checked: check");
        health.good();
        assert!(!health.doubtful(), "checked a moment ago");
        health
            .last_good
            .store(health.now() - 6_000, Ordering::Relaxed);
        assert!(health.doubtful(), "idle for longer than IDLE_DOUBT");
        health.good();
        health.broken();
        assert!(health.doubtful(), "a connection broke a moment ago");
        health
            .last_broken
            .store(health.now() - 31_000, Ordering::Relaxed);
        assert!(!health.doubtful(), "the break is long past");
    }

    #[test]
    fn a_sqlite_pool_hands_out_working_connections() {
        let dir = std::env::temp_dir().join(format!("db-pool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pool.db").display().to_string();
        let pool = Pool::builder()
            .max_size(2)
            .build(Manager::new(path))
            .unwrap();
        for _ in 0..5 {
            let mut conn = pool.get().unwrap();
            conn.ping().unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
