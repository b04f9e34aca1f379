//! The store's one error type.

/// Everything that can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else changed the conversation since it was loaded; reload and decide again.
    #[error("the conversation was changed concurrently")]
    Conflict,
    /// An `Idempotency-Key` was stored by a concurrent request first.
    #[error("the idempotency key was used concurrently")]
    IdempotencyRace,
    /// `DATABASE_URL` is neither `postgres://…` nor `sqlite://…`.
    #[error("unsupported DATABASE_URL `{0}`: use postgres://… or sqlite://…")]
    UnsupportedUrl(String),
    /// No connection could be made or taken from the pool.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Migrations failed to apply.
    #[error("migration failed: {0}")]
    Migration(String),
    /// A stored value no longer parses (written by a newer or broken version).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
}

impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<diesel::ConnectionError> for StoreError {
    fn from(e: diesel::ConnectionError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// True when `e` is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

impl From<conversations_db::DbError> for StoreError {
    fn from(e: conversations_db::DbError) -> Self {
        use conversations_db::DbError;
        match e {
            DbError::UnsupportedUrl(url) => Self::UnsupportedUrl(url),
            DbError::Unavailable(detail) => Self::Unavailable(detail),
            DbError::Migration(detail) => Self::Migration(detail),
            DbError::Corrupt(detail) => Self::Corrupt(detail),
            DbError::Database(e) => Self::Database(e),
        }
    }
}
