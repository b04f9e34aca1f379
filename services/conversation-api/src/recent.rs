//! The conversations this process committed last, so the next command on one of them
//! decides without reading it back: two statements (the conversation and its participants)
//! less per post.
//!
//! Never a source of truth. A command decided on a remembered state commits only if the
//! conversation's version is still the one it remembered (the write path's check), so a
//! change made meanwhile by another replica, or by another request here, turns the commit
//! into a conflict and the command is decided again on what the database holds. A command
//! that a remembered state refuses (not a member, not found, …) is decided again on the
//! database's state too, so a refusal is never based on what this process remembers.
//! Entries are forgotten after [`RecentConversations::TTL`] (an erased conversation's
//! details do not linger in memory) and all at once when [`RecentConversations::CAPACITY`]
//! is reached.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use conversations_domain::{AppId, Conversation, ConversationId};

/// Recently committed conversation states, by application and id.
#[derive(Debug, Default)]
pub struct RecentConversations {
    entries: Mutex<HashMap<(AppId, ConversationId), (Instant, Conversation)>>,
}

impl RecentConversations {
    /// How long a committed state is used.
    pub const TTL: Duration = Duration::from_secs(30);
    /// How many conversations are remembered at most.
    pub const CAPACITY: usize = 10_000;

    /// The state this process committed last for the conversation, if recent.
    pub fn get(&self, app: AppId, id: ConversationId) -> Option<Conversation> {
        let mut entries = self.entries.lock().ok()?;
        match entries.get(&(app, id)) {
            Some((at, c)) if at.elapsed() < Self::TTL => Some(c.clone()),
            Some(_) => {
                entries.remove(&(app, id));
                None
            }
            None => None,
        }
    }

    /// Remembers a committed state (unless a newer one is remembered already).
    pub fn put(&self, c: &Conversation) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let key = (c.app_id, c.id);
        if entries
            .get(&key)
            .is_some_and(|(_, known)| known.version > c.version)
        {
            return;
        }
        if entries.len() >= Self::CAPACITY && !entries.contains_key(&key) {
            entries.retain(|_, (at, _)| at.elapsed() < Self::TTL);
            if entries.len() >= Self::CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), c.clone()));
    }

    /// Forgets a conversation (deleted, or not found where it was remembered).
    pub fn forget(&self, app: AppId, id: ConversationId) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&(app, id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn conversation(version: u64) -> Conversation {
        let mut c = Conversation::shell(ConversationId::new(), AppId::new(), Utc::now());
        c.version = version;
        c
    }

    #[test]
    fn a_newer_state_is_kept_over_an_older_one() {
        let recent = RecentConversations::default();
        let mut c = conversation(7);
        recent.put(&c);
        c.version = 6;
        recent.put(&c);
        assert_eq!(recent.get(c.app_id, c.id).map(|c| c.version), Some(7));
        c.version = 8;
        recent.put(&c);
        assert_eq!(recent.get(c.app_id, c.id).map(|c| c.version), Some(8));
        recent.forget(c.app_id, c.id);
        assert!(recent.get(c.app_id, c.id).is_none());
    }

    #[test]
    fn another_application_does_not_see_it() {
        let recent = RecentConversations::default();
        let c = conversation(1);
        recent.put(&c);
        assert!(recent.get(AppId::new(), c.id).is_none());
    }

    #[test]
    fn it_never_holds_more_than_its_capacity() {
        let recent = RecentConversations::default();
        for _ in 0..RecentConversations::CAPACITY + 5 {
            recent.put(&conversation(1));
        }
        let held = recent.entries.lock().map(|e| e.len()).unwrap_or(0);
        assert!(held <= RecentConversations::CAPACITY, "{held}");
    }
}
