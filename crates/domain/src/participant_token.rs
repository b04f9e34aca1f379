//! Participant tokens: short-lived, signed credentials an application mints for one
//! contact (an email address within the application), so that contact's browser can read
//! its own inbox, open and mark read its conversations and post as itself — and nothing
//! else. Every service that accepts them verifies them with the shared `TOKEN_SECRET`;
//! none has to look anything up, so metadata-query never reads conversation-api's tables.
//!
//! Format: `cvt_<base64url(claims)>.<base64url(HMAC-SHA256(label, claims))>`, where the
//! claims are `v1\n<app id>\n<email>\n<expiry, unix seconds>`.

use chrono::{DateTime, TimeZone, Utc};

use crate::ids::AppId;
use crate::values::EmailAddress;

/// Prefix of every participant token, so they are never mistaken for API keys (`cvk_`).
pub const TOKEN_PREFIX: &str = "cvt_";

/// Longest lifetime an application may ask for: a day. Tokens cannot be revoked, so they
/// are kept short; browsers ask the application for a fresh one.
pub const MAX_TOKEN_TTL_SECONDS: i64 = 24 * 60 * 60;

/// Lifetime when the application does not say: 15 minutes.
pub const DEFAULT_TOKEN_TTL_SECONDS: i64 = 15 * 60;

const LABEL: &[u8] = b"conversations-participant-token-v1";

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantClaims {
    /// The application that minted it; the token sees nothing of any other.
    pub app_id: AppId,
    /// The contact it acts as.
    pub email: EmailAddress,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a participant token of this deployment (shape, encoding or signature).
    #[error("not a valid participant token")]
    Invalid,
    /// It was valid, but its time is up.
    #[error("the participant token has expired")]
    Expired,
}

/// Mints and verifies participant tokens with the deployment's secret.
#[derive(Clone)]
pub struct ParticipantTokenCodec {
    secret: Vec<u8>,
}

impl std::fmt::Debug for ParticipantTokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParticipantTokenCodec")
            .finish_non_exhaustive()
    }
}

impl ParticipantTokenCodec {
    /// A codec over `secret` (the `TOKEN_SECRET` setting).
    pub fn new(secret: Vec<u8>) -> Self {
        Self { secret }
    }

    /// A token for `claims`.
    pub fn mint(&self, claims: &ParticipantClaims) -> String {
        let body = format!(
            "v1\n{}\n{}\n{}",
            claims.app_id,
            claims.email.as_str(),
            claims.expires_at.timestamp()
        );
        format!(
            "{TOKEN_PREFIX}{}",
            crate::signed::seal(&self.secret, LABEL, &body)
        )
    }

    /// The claims of a genuine, unexpired token.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<ParticipantClaims, TokenError> {
        let rest = token
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(TokenError::Invalid)?;
        let body =
            crate::signed::open(&self.secret, LABEL, rest, 1024).ok_or(TokenError::Invalid)?;
        let mut fields = body.split('\n');
        let (Some("v1"), Some(app), Some(email), Some(expiry), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(TokenError::Invalid);
        };
        let app_id: AppId = app.parse().map_err(|_| TokenError::Invalid)?;
        let email = EmailAddress::parse("email", email).map_err(|_| TokenError::Invalid)?;
        let expiry: i64 = expiry.parse().map_err(|_| TokenError::Invalid)?;
        let expires_at = Utc
            .timestamp_opt(expiry, 0)
            .single()
            .ok_or(TokenError::Invalid)?;
        if expires_at <= now {
            return Err(TokenError::Expired);
        }
        Ok(ParticipantClaims {
            app_id,
            email,
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use data_encoding::BASE64URL_NOPAD;

    use super::*;

    fn claims(now: DateTime<Utc>) -> ParticipantClaims {
        ParticipantClaims {
            app_id: AppId::new(),
            email: EmailAddress::parse("email", "Fred@Example.com").unwrap(),
            expires_at: now + Duration::seconds(60),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0).single().unwrap()
    }

    #[test]
    fn a_minted_token_verifies_to_its_claims() {
        let codec = ParticipantTokenCodec::new(b"0123456789abcdef0123456789abcdef".to_vec());
        let claims = claims(now());
        let token = codec.mint(&claims);
        assert!(token.starts_with("cvt_"));
        assert_eq!(codec.verify(&token, now()).unwrap(), claims);
    }

    #[test]
    fn expired_tokens_are_refused() {
        let codec = ParticipantTokenCodec::new(b"secret".to_vec());
        let token = codec.mint(&claims(now()));
        assert_eq!(
            codec.verify(&token, now() + Duration::seconds(60)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn altered_or_foreign_tokens_are_refused() {
        let codec = ParticipantTokenCodec::new(b"secret".to_vec());
        let token = codec.mint(&claims(now()));
        let other = ParticipantTokenCodec::new(b"other secret".to_vec());
        assert_eq!(other.verify(&token, now()), Err(TokenError::Invalid));

        // Swap in claims for someone else, keeping the original signature.
        let (_, tag) = token.split_once('.').unwrap();
        let forged_body = format!(
            "v1\n{}\nmallory@example.com\n{}",
            AppId::new(),
            now().timestamp() + 60
        );
        let forged = format!(
            "cvt_{}.{tag}",
            BASE64URL_NOPAD.encode(forged_body.as_bytes())
        );
        assert_eq!(codec.verify(&forged, now()), Err(TokenError::Invalid));

        for junk in [
            "",
            "cvt_",
            "cvt_a.b",
            "cvk_abc",
            "cvt_!!!.???",
            &"cvt_a".repeat(500),
        ] {
            assert_eq!(
                codec.verify(junk, now()),
                Err(TokenError::Invalid),
                "{junk}"
            );
        }
    }
}
