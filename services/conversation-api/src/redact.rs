//! What a participant token may see of other people: never their real address. Responses
//! to token callers pass through [`for_participant`], which replaces every other
//! participant's address with a stable alias and drops their reply addresses (a reply
//! address would let the caller post as them by email).

use conversations_domain::{Conversation, EmailAddress};
use data_encoding::HEXLOWER;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// Makes the aliases shown instead of other people's addresses: HMAC-SHA-256 keyed with a
/// server secret (derived from `REPLY_SECRET`, which every replica shares), so that a token
/// holder cannot confirm a guessed address by hashing it (an unkeyed hash would allow
/// exactly that, offline).
#[derive(Clone)]
pub struct Aliases {
    key: Vec<u8>,
}

impl std::fmt::Debug for Aliases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Aliases(<secret key>)")
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes a key of any length: this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

impl Aliases {
    /// Aliases keyed with a key derived from `server_secret` (its own purpose label, so the
    /// reply-address key is never used for anything else as it is).
    pub fn new(server_secret: &[u8]) -> Self {
        Self {
            key: hmac(server_secret, &[b"conversations participant alias v1"]),
        }
    }

    /// The alias shown instead of `email` in `conversation`: the same for the same person
    /// in the same conversation, unrelated across conversations.
    pub fn alias(&self, conversation: &Conversation, email: &EmailAddress) -> String {
        let digest = hmac(
            &self.key,
            &[
                conversation.id.to_string().as_bytes(),
                b"\n",
                email.as_str().as_bytes(),
            ],
        );
        format!(
            "participant-{}@masked.invalid",
            &HEXLOWER.encode(&digest)[..16]
        )
    }
}

/// Rewrites a response body for the contact `me`: other people's addresses become aliases,
/// and their reply addresses and the integrator's ids for them go.
pub fn for_participant(
    aliases: &Aliases,
    body: &mut Value,
    conversation: &Conversation,
    me: &EmailAddress,
) {
    let others: Vec<(String, String)> = conversation
        .participants
        .iter()
        .filter(|p| &p.email != me)
        .map(|p| {
            (
                p.email.as_str().to_owned(),
                aliases.alias(conversation, &p.email),
            )
        })
        .collect();
    walk(body, &others);
}

fn walk(value: &mut Value, others: &[(String, String)]) {
    match value {
        Value::String(s) => {
            if let Some((_, alias)) = others.iter().find(|(email, _)| email == s) {
                *s = alias.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| walk(v, others)),
        Value::Object(map) => {
            let someone_else = map
                .get("email")
                .and_then(Value::as_str)
                .is_some_and(|e| others.iter().any(|(email, _)| email == e));
            if someone_else {
                map.remove("reply_to");
                map.remove("external_id");
            }
            map.values_mut().for_each(|v| walk(v, others));
        }
        _ => {}
    }
}

/// The JSON body of a response about `conversation`, as `caller` may see it.
pub fn body_for(
    aliases: &Aliases,
    caller: &crate::auth::Caller,
    conversation: &Conversation,
    body: &impl serde::Serialize,
) -> Result<Value, crate::error::ApiError> {
    let mut value =
        serde_json::to_value(body).map_err(|e| crate::error::ApiError::Internal(e.to_string()))?;
    if let Some(me) = caller.contact() {
        for_participant(aliases, &mut value, conversation, me);
    }
    Ok(value)
}
