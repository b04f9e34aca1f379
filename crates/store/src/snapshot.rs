//! What a snapshot of current state is read from: a metadata-query replica that is
//! further behind than the pruned feed reaches rebuilds from it instead of the history.

use conversations_domain::{AppId, ConversationId};
use diesel::prelude::*;

use crate::connection::Store;
use crate::error::StoreError;
use crate::rows::parse_id;
use crate::schema::{api_keys, applications, conversations};

/// An API key in use, as other services learn it.
#[derive(Debug, Clone)]
pub struct ActiveKey {
    /// Its application.
    pub app_id: AppId,
    /// The application's name.
    pub app_name: String,
    /// Hex SHA-256 of the key.
    pub key_hash: String,
    /// The key's first characters.
    pub key_prefix: String,
}

impl Store {
    /// Every key not revoked, oldest first.
    pub fn active_keys(&self) -> Result<Vec<ActiveKey>, StoreError> {
        let mut conn = self.conn()?;
        let rows: Vec<(String, String, String, String)> = api_keys::table
            .inner_join(applications::table.on(applications::id.eq(api_keys::app_id)))
            .filter(api_keys::revoked_at.is_null())
            .order(api_keys::created_at.asc())
            .select((
                api_keys::app_id,
                applications::name,
                api_keys::key_hash,
                api_keys::prefix,
            ))
            .load(&mut *conn)?;
        rows.into_iter()
            .map(|(app, app_name, key_hash, key_prefix)| {
                Ok(ActiveKey {
                    app_id: parse_id("application id", &app)?,
                    app_name,
                    key_hash,
                    key_prefix,
                })
            })
            .collect()
    }

    /// Up to `limit` conversations with an id after `after`, in id order (every
    /// application's): the pages of a snapshot.
    pub fn conversations_after(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(AppId, ConversationId)>, StoreError> {
        let mut conn = self.conn()?;
        let rows: Vec<(String, String)> = conversations::table
            .filter(conversations::id.gt(after))
            .order(conversations::id.asc())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .select((conversations::app_id, conversations::id))
            .load(&mut *conn)?;
        rows.into_iter()
            .map(|(app, id)| {
                Ok((
                    parse_id("application id", &app)?,
                    parse_id("conversation id", &id)?,
                ))
            })
            .collect()
    }
}
