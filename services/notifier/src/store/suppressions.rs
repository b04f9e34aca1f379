//! The suppression list: addresses of an application that bounced and get no more mail
//! until the application lifts it.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use conversations_db::DbError;

use super::schema::nt_suppressed as suppressed_addresses;
use super::{NotifierStore, naive};

impl NotifierStore {
    /// Stops all mail to an address of an application (after a bounce).
    pub fn suppress_address(
        &self,
        app_id: &str,
        email: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        if self.is_suppressed(app_id, email)? {
            return Ok(());
        }
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        diesel::insert_into(suppressed_addresses::table)
            .values((
                suppressed_addresses::app_id.eq(app_id),
                suppressed_addresses::email.eq(email),
                suppressed_addresses::reason.eq(reason),
                suppressed_addresses::created_at.eq(naive(now)),
            ))
            .execute(&mut *conn)?;
        Ok(())
    }

    /// Mails the address again (the application lifted the suppression).
    pub fn unsuppress_address(&self, app_id: &str, email: &str) -> Result<(), DbError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        diesel::delete(
            suppressed_addresses::table
                .filter(suppressed_addresses::app_id.eq(app_id))
                .filter(suppressed_addresses::email.eq(email)),
        )
        .execute(&mut *conn)?;
        Ok(())
    }

    /// Which of `emails` are suppressed: one query for all the recipients of a message.
    pub fn suppressed_among(
        &self,
        app_id: &str,
        emails: &[&str],
    ) -> Result<HashSet<String>, DbError> {
        if emails.is_empty() {
            return Ok(HashSet::new());
        }
        let mut conn = self.conn()?;
        Ok(suppressed_addresses::table
            .filter(suppressed_addresses::app_id.eq(app_id))
            .filter(suppressed_addresses::email.eq_any(emails))
            .select(suppressed_addresses::email)
            .load::<String>(&mut *conn)?
            .into_iter()
            .collect())
    }

    /// Whether mail to the address is suppressed.
    pub fn is_suppressed(&self, app_id: &str, email: &str) -> Result<bool, DbError> {
        Ok(!self.suppressed_among(app_id, &[email])?.is_empty())
    }
}
