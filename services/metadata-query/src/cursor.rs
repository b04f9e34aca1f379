//! Opaque paging cursors. Inbox cursors are keyset positions — (pinned, last activity,
//! conversation id) of the last item served plus the moment the first page was served —
//! so paging neither repeats nor skips items while messages arrive; message cursors are
//! a message number to continue before.

use chrono::{DateTime, NaiveDateTime};
use data_encoding::BASE64URL_NOPAD;

/// A position in a contact's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxCursor {
    /// Whether the listing sorts pinned conversations first (a cursor only continues the
    /// order it was made for).
    pub pinned_first: bool,
    /// The last item's pinned flag.
    pub pinned: bool,
    /// The last item's activity.
    pub last_activity: NaiveDateTime,
    /// The last item's conversation id.
    pub conversation_id: String,
    /// When the first page was served.
    pub as_of: NaiveDateTime,
}

fn micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

fn from_micros(n: &str) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_micros(n.parse().ok()?).map(|t| t.naive_utc())
}

impl InboxCursor {
    /// The opaque form handed to clients.
    pub fn encode(&self) -> String {
        let raw = format!(
            "i1|{}|{}|{}|{}|{}",
            u8::from(self.pinned_first),
            u8::from(self.pinned),
            micros(self.last_activity),
            self.conversation_id,
            micros(self.as_of)
        );
        BASE64URL_NOPAD.encode(raw.as_bytes())
    }

    /// Reads a cursor we issued; `None` for anything else.
    pub fn decode(raw: &str) -> Option<Self> {
        if raw.len() > 512 {
            return None;
        }
        let bytes = BASE64URL_NOPAD.decode(raw.as_bytes()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.split('|');
        if parts.next()? != "i1" {
            return None;
        }
        let flag = |s: &str| match s {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        };
        let pinned_first = flag(parts.next()?)?;
        let pinned = flag(parts.next()?)?;
        let last_activity = from_micros(parts.next()?)?;
        let conversation_id = parts.next()?.to_owned();
        let as_of = from_micros(parts.next()?)?;
        if parts.next().is_some() || conversation_id.is_empty() || conversation_id.len() > 64 {
            return None;
        }
        Some(Self {
            pinned_first,
            pinned,
            last_activity,
            conversation_id,
            as_of,
        })
    }
}

/// Position in one conversation's messages: continue with messages before this number.
pub fn encode_message_cursor(before_seq: i64) -> String {
    BASE64URL_NOPAD.encode(format!("m1|{before_seq}").as_bytes())
}

/// Reads a message cursor we issued.
pub fn decode_message_cursor(raw: &str) -> Option<i64> {
    if raw.len() > 64 {
        return None;
    }
    let text = String::from_utf8(BASE64URL_NOPAD.decode(raw.as_bytes()).ok()?).ok()?;
    let n: i64 = text.strip_prefix("m1|")?.parse().ok()?;
    (n > 0).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_cursors_round_trip_and_junk_is_refused() {
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456)
            .unwrap()
            .naive_utc();
        let cursor = InboxCursor {
            pinned_first: true,
            pinned: false,
            last_activity: at,
            conversation_id: "0190b3c2-1111-7000-8000-000000000001".into(),
            as_of: at,
        };
        assert_eq!(InboxCursor::decode(&cursor.encode()), Some(cursor));
        for junk in ["", "abc", "aTF8MXwx", &"A".repeat(600)] {
            assert_eq!(InboxCursor::decode(junk), None, "{junk}");
        }
    }

    #[test]
    fn message_cursors_round_trip() {
        assert_eq!(decode_message_cursor(&encode_message_cursor(42)), Some(42));
        assert_eq!(decode_message_cursor("42"), None);
        assert_eq!(decode_message_cursor(&encode_message_cursor(0)), None);
    }
}
