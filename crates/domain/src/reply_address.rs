//! Per-participant reply addresses: `r<code>@REPLY_DOMAIN`, where the code carries the
//! conversation, the participant and an HMAC over (application, conversation,
//! participant). Notification mails use it as `Reply-To`; inbound mail verifies it, so a
//! guessed or altered address is refused, never posted.
//!
//! The code is base32 without padding and decoded case-insensitively, because some MTAs
//! lower-case (or upper-case) local parts. It is 62 characters, under the 64 allowed.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ids::{AppId, ConversationId, ParticipantId};

/// Bytes of HMAC-SHA256 kept in the address: 48 bits, enough against online guessing of
/// mail addresses, short enough for the local-part limit.
const TAG_BYTES: usize = 6;

/// What a signed code is for; each kind has its own prefix and HMAC label, so a code of
/// one kind never verifies as another (a reply address is no unsubscribe token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    /// `Reply-To` of notifications: `r…@REPLY_DOMAIN`.
    Reply,
    /// Envelope sender (VERP) of notifications: `b…@REPLY_DOMAIN`, ties a bounce to a
    /// participant.
    Bounce,
    /// The token in `List-Unsubscribe` URLs.
    Unsubscribe,
}

impl CodeKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::Reply => "r",
            Self::Bounce => "b",
            Self::Unsubscribe => "u",
        }
    }

    fn label(self) -> &'static [u8] {
        match self {
            Self::Reply => b"conversations-reply-v1",
            Self::Bounce => b"conversations-bounce-v1",
            Self::Unsubscribe => b"conversations-unsubscribe-v1",
        }
    }
}

/// Encodes and verifies reply addresses with the deployment's secret.
#[derive(Clone)]
pub struct ReplyAddressCodec {
    secret: Vec<u8>,
    domain: String,
}

impl std::fmt::Debug for ReplyAddressCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyAddressCodec")
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

/// What a valid reply address names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyTarget {
    /// The conversation replied to.
    pub conversation_id: ConversationId,
    /// The participant the address was given to.
    pub participant_id: ParticipantId,
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyAddressError {
    /// Not one of our reply addresses (other domain, shape or length).
    #[error("not a reply address of this deployment")]
    Malformed,
    /// Well-formed, but the HMAC does not match: guessed, altered, or another application's.
    #[error("the reply address does not verify")]
    BadSignature,
}

impl ReplyAddressCodec {
    /// `secret` should be at least 32 random bytes; `domain` is `REPLY_DOMAIN`.
    pub fn new(secret: impl Into<Vec<u8>>, domain: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            domain: domain.into().to_ascii_lowercase(),
        }
    }

    /// `REPLY_DOMAIN`, lower-case.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    fn tag(
        &self,
        kind: CodeKind,
        app: AppId,
        conversation: ConversationId,
        participant: ParticipantId,
    ) -> [u8; TAG_BYTES] {
        // An HMAC accepts keys of any length, so this cannot fail; the fallback keeps the
        // function total without a panic path.
        let mut out = [0u8; TAG_BYTES];
        if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) {
            mac.update(kind.label());
            mac.update(app.as_uuid().as_bytes());
            mac.update(conversation.as_uuid().as_bytes());
            mac.update(participant.as_uuid().as_bytes());
            let full = mac.finalize().into_bytes();
            out.copy_from_slice(&full[..TAG_BYTES]);
        }
        out
    }

    /// A signed code of `kind` (the local part of reply and bounce addresses, the token
    /// of unsubscribe URLs).
    pub fn code(
        &self,
        kind: CodeKind,
        app: AppId,
        conversation: ConversationId,
        participant: ParticipantId,
    ) -> String {
        let mut raw = Vec::with_capacity(32 + TAG_BYTES);
        raw.extend_from_slice(conversation.as_uuid().as_bytes());
        raw.extend_from_slice(participant.as_uuid().as_bytes());
        raw.extend_from_slice(&self.tag(kind, app, conversation, participant));
        let code = BASE32_NOPAD.encode(&raw).to_ascii_lowercase();
        format!("{}{code}", kind.prefix())
    }

    /// The reply address for one participant of one conversation.
    pub fn encode(
        &self,
        app: AppId,
        conversation: ConversationId,
        participant: ParticipantId,
    ) -> String {
        let code = self.code(CodeKind::Reply, app, conversation, participant);
        format!("{code}@{}", self.domain)
    }

    /// The VERP envelope sender of notifications to one participant.
    pub fn bounce_address(
        &self,
        app: AppId,
        conversation: ConversationId,
        participant: ParticipantId,
    ) -> String {
        let code = self.code(CodeKind::Bounce, app, conversation, participant);
        format!("{code}@{}", self.domain)
    }

    /// Reads the conversation and participant out of a code of `kind` without checking
    /// the HMAC, which needs the conversation's application; [`Self::verify_code`] does.
    pub fn decode_code(
        &self,
        kind: CodeKind,
        local: &str,
    ) -> Result<ReplyTarget, ReplyAddressError> {
        let prefix = kind.prefix();
        let code = local
            .get(..prefix.len())
            .filter(|p| p.eq_ignore_ascii_case(prefix))
            .and_then(|_| local.get(prefix.len()..))
            .ok_or(ReplyAddressError::Malformed)?;
        let raw = BASE32_NOPAD
            .decode(code.to_ascii_uppercase().as_bytes())
            .map_err(|_| ReplyAddressError::Malformed)?;
        if raw.len() != 32 + TAG_BYTES {
            return Err(ReplyAddressError::Malformed);
        }
        let uuid = |bytes: &[u8]| {
            <[u8; 16]>::try_from(bytes)
                .map(uuid::Uuid::from_bytes)
                .map_err(|_| ReplyAddressError::Malformed)
        };
        Ok(ReplyTarget {
            conversation_id: ConversationId::from_uuid(uuid(&raw[..16])?),
            participant_id: ParticipantId::from_uuid(uuid(&raw[16..32])?),
        })
    }

    /// Checks a code of `kind` against the conversation's application.
    pub fn verify_code(
        &self,
        kind: CodeKind,
        local: &str,
        app: AppId,
    ) -> Result<ReplyTarget, ReplyAddressError> {
        let target = self.decode_code(kind, local)?;
        let expected = self.code(kind, app, target.conversation_id, target.participant_id);
        if constant_time_eq(expected.as_bytes(), local.to_ascii_lowercase().as_bytes()) {
            Ok(target)
        } else {
            Err(ReplyAddressError::BadSignature)
        }
    }

    fn local_part<'a>(&self, address: &'a str) -> Result<&'a str, ReplyAddressError> {
        let (local, domain) = address
            .trim()
            .rsplit_once('@')
            .ok_or(ReplyAddressError::Malformed)?;
        if !domain.eq_ignore_ascii_case(&self.domain) {
            return Err(ReplyAddressError::Malformed);
        }
        Ok(local)
    }

    /// Reads a reply address without checking the HMAC (see [`Self::verify`]).
    pub fn decode(&self, address: &str) -> Result<ReplyTarget, ReplyAddressError> {
        self.decode_code(CodeKind::Reply, self.local_part(address)?)
    }

    /// Decodes a reply address and checks its HMAC against the conversation's application.
    pub fn verify(&self, address: &str, app: AppId) -> Result<ReplyTarget, ReplyAddressError> {
        self.verify_code(CodeKind::Reply, self.local_part(address)?, app)
    }

    /// Decodes a bounce (VERP) address and checks its HMAC.
    pub fn verify_bounce(
        &self,
        address: &str,
        app: AppId,
    ) -> Result<ReplyTarget, ReplyAddressError> {
        self.verify_code(CodeKind::Bounce, self.local_part(address)?, app)
    }
}

/// Compares a presented secret in constant time (`subtle`): how long the answer takes
/// tells nothing about how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> ReplyAddressCodec {
        ReplyAddressCodec::new(
            b"0123456789abcdef0123456789abcdef".to_vec(),
            "Reply.Example.com",
        )
    }

    #[test]
    fn an_encoded_address_verifies_in_any_letter_case() {
        let (app, conv, part) = (AppId::new(), ConversationId::new(), ParticipantId::new());
        let address = codec().encode(app, conv, part);
        let local = address.split('@').next().unwrap();
        assert!(local.len() <= 64, "local part too long: {}", local.len());
        for variant in [address.clone(), address.to_uppercase()] {
            let target = codec().verify(&variant, app).unwrap();
            assert_eq!(target.conversation_id, conv);
            assert_eq!(target.participant_id, part);
        }
    }

    #[test]
    fn altered_or_foreign_addresses_are_refused() {
        let (app, conv, part) = (AppId::new(), ConversationId::new(), ParticipantId::new());
        let address = codec().encode(app, conv, part);
        assert_eq!(
            codec().verify(&address, AppId::new()),
            Err(ReplyAddressError::BadSignature)
        );
        let other_secret = ReplyAddressCodec::new(b"another secret".to_vec(), "reply.example.com");
        assert_eq!(
            other_secret.verify(&address, app),
            Err(ReplyAddressError::BadSignature)
        );
        let mut tampered = address.clone().into_bytes();
        tampered[10] = if tampered[10] == b'a' { b'b' } else { b'a' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            codec().verify(&tampered, app),
            Err(ReplyAddressError::BadSignature)
        );
        assert_eq!(
            codec().decode("r123@elsewhere.com"),
            Err(ReplyAddressError::Malformed)
        );
        assert_eq!(
            codec().decode("hello@reply.example.com"),
            Err(ReplyAddressError::Malformed)
        );
    }

    #[test]
    fn codes_of_one_kind_never_verify_as_another() {
        let (app, conv, part) = (AppId::new(), ConversationId::new(), ParticipantId::new());
        let bounce = codec().bounce_address(app, conv, part);
        assert!(codec().verify_bounce(&bounce, app).is_ok());
        assert!(codec().verify(&bounce, app).is_err());
        let reply_local = codec().code(CodeKind::Reply, app, conv, part);
        assert!(
            codec()
                .verify_code(CodeKind::Unsubscribe, &reply_local, app)
                .is_err()
        );
        // Relabelled as another kind, a code is well-formed but its signature is not
        // valid for that kind: holding someone's reply address is no unsubscribe token.
        let relabelled = format!("u{}", &reply_local[1..]);
        assert_eq!(
            codec().verify_code(CodeKind::Unsubscribe, &relabelled, app),
            Err(ReplyAddressError::BadSignature)
        );
        let token = codec().code(CodeKind::Unsubscribe, app, conv, part);
        let as_reply = format!("r{}", &token[1..]);
        assert_eq!(
            codec().verify_code(CodeKind::Reply, &as_reply, app),
            Err(ReplyAddressError::BadSignature)
        );
        let target = codec()
            .verify_code(CodeKind::Unsubscribe, &token, app)
            .unwrap();
        assert_eq!(target.participant_id, part);
    }
}
