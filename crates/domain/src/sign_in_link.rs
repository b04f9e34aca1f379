//! Sign-in link codes: what turns the "View the conversation" link of a notification into
//! a signed-in page without a password. The notifier puts a code in every link it writes;
//! the page exchanges it (conversation-api, `POST /api/v1/sign-in`) for a short-lived
//! participant token. A code is bound to one application, conversation and participant
//! and expires (seven days by default), so a forwarded or leaked mail opens one
//! conversation for one person for a limited time, and a participant who has left opens
//! nothing: the exchange checks membership at that moment.
//!
//! Format: `base64url(claims).base64url(HMAC-SHA256(key, claims))`, claims
//! `l1\n<app>\n<conversation>\n<participant>\n<expiry, unix seconds>`. The key is derived
//! from `REPLY_SECRET` with a purpose label, so no other code of ours verifies as a link.

use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ids::{AppId, ConversationId, ParticipantId};

/// How long a link works when the operator does not say: seven days.
pub const DEFAULT_LINK_TTL_SECONDS: i64 = 7 * 24 * 60 * 60;

/// Longest code accepted before decoding: a genuine one is about 190 characters.
const MAX_CODE_LEN: usize = 512;

const PURPOSE: &[u8] = b"conversations sign-in link v1";

/// Whom a genuine link signs in, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkClaims {
    /// The application whose notification carried the link.
    pub app_id: AppId,
    /// The conversation the link opens.
    pub conversation_id: ConversationId,
    /// The recipient of that notification.
    pub participant_id: ParticipantId,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
}

/// Why a link code was refused; the page tells the person which, and what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not one of our codes: altered, cut off, or signed with another secret.
    #[error("the sign-in link is not valid")]
    Invalid,
    /// Genuine, but older than its lifetime.
    #[error("the sign-in link has expired")]
    Expired,
}

/// Signs and verifies link codes with a key derived from the deployment's `REPLY_SECRET`.
#[derive(Clone)]
pub struct LinkCodec {
    key: Vec<u8>,
}

impl std::fmt::Debug for LinkCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkCodec(<secret key>)")
    }
}

fn mac(key: &[u8]) -> Option<Hmac<Sha256>> {
    // HMAC takes keys of any length; this never fails.
    Hmac::<Sha256>::new_from_slice(key).ok()
}

impl LinkCodec {
    /// A codec whose key is derived from `server_secret` (`REPLY_SECRET`).
    pub fn new(server_secret: &[u8]) -> Self {
        let key = mac(server_secret)
            .map(|mut m| {
                m.update(PURPOSE);
                m.finalize().into_bytes().to_vec()
            })
            .unwrap_or_default();
        Self { key }
    }

    /// The code for `claims`.
    pub fn mint(&self, claims: &LinkClaims) -> String {
        let body = format!(
            "l1\n{}\n{}\n{}\n{}",
            claims.app_id,
            claims.conversation_id,
            claims.participant_id,
            claims.expires_at.timestamp()
        );
        crate::signed::seal(&self.key, b"", &body)
    }

    /// The claims of a genuine code that has not expired at `now`. The signature is checked
    /// before anything in the code is believed, the expiry after it.
    pub fn verify(&self, code: &str, now: DateTime<Utc>) -> Result<LinkClaims, LinkError> {
        let body = crate::signed::open(&self.key, b"", code.trim(), MAX_CODE_LEN)
            .ok_or(LinkError::Invalid)?;
        let mut fields = body.split('\n');
        let (Some("l1"), Some(app), Some(conversation), Some(participant), Some(expiry), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(LinkError::Invalid);
        };
        let expires_at = expiry
            .parse::<i64>()
            .ok()
            .and_then(|s| Utc.timestamp_opt(s, 0).single())
            .ok_or(LinkError::Invalid)?;
        let claims = LinkClaims {
            app_id: app.parse().map_err(|_| LinkError::Invalid)?,
            conversation_id: conversation.parse().map_err(|_| LinkError::Invalid)?,
            participant_id: participant.parse().map_err(|_| LinkError::Invalid)?,
            expires_at,
        };
        if claims.expires_at <= now {
            return Err(LinkError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use data_encoding::BASE64URL_NOPAD;

    fn claims(now: DateTime<Utc>) -> LinkClaims {
        LinkClaims {
            app_id: AppId::new(),
            conversation_id: ConversationId::new(),
            participant_id: ParticipantId::new(),
            expires_at: Utc
                .timestamp_opt(now.timestamp() + DEFAULT_LINK_TTL_SECONDS, 0)
                .unwrap(),
        }
    }

    #[test]
    fn a_genuine_code_opens_what_it_was_made_for_until_it_expires() {
        let codec = LinkCodec::new(b"a server secret of at least 32 characters");
        let now = Utc::now();
        let c = claims(now);
        let code = codec.mint(&c);
        assert!(
            code.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "a code needs no escaping in a URL: {code}"
        );
        assert_eq!(codec.verify(&code, now), Ok(c));
        assert_eq!(
            codec.verify(&code, now + Duration::days(7) + Duration::seconds(1)),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn altered_truncated_or_foreign_codes_are_invalid() {
        let codec = LinkCodec::new(b"a server secret of at least 32 characters");
        let now = Utc::now();
        let code = codec.mint(&claims(now));
        let mut altered = code.clone().into_bytes();
        altered[5] = if altered[5] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        for bad in [
            altered.as_str(),
            &code[..code.len() - 3],
            "",
            ".",
            "no-dot",
            &"x".repeat(5000),
        ] {
            assert_eq!(codec.verify(bad, now), Err(LinkError::Invalid), "{bad}");
        }
        let other = LinkCodec::new(b"another server secret, 32 characters long");
        assert_eq!(other.verify(&code, now), Err(LinkError::Invalid));
    }

    #[test]
    fn an_expiry_cannot_be_extended_without_the_key() {
        let codec = LinkCodec::new(b"a server secret of at least 32 characters");
        let now = Utc::now();
        let c = claims(now);
        let code = codec.mint(&c);
        let (_, tag) = code.split_once('.').unwrap();
        let longer = format!(
            "l1\n{}\n{}\n{}\n{}",
            c.app_id,
            c.conversation_id,
            c.participant_id,
            c.expires_at.timestamp() + 1_000_000
        );
        let forged = format!("{}.{tag}", BASE64URL_NOPAD.encode(longer.as_bytes()));
        assert_eq!(codec.verify(&forged, now), Err(LinkError::Invalid));
    }
}
