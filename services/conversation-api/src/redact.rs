//! What a participant token may see of other people: never their real address. Responses
//! to token callers pass through [`for_participant`], which replaces every other
//! participant's address with a stable alias and drops their reply addresses (a reply
//! address would let the caller post as them by email).

use conversations_domain::{Conversation, EmailAddress};
use data_encoding::HEXLOWER;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The alias shown instead of `email` in `conversation`: the same for the same person in
/// the same conversation, unrelated across conversations.
pub fn alias(conversation: &Conversation, email: &EmailAddress) -> String {
    let digest = Sha256::digest(format!("{}\n{}", conversation.id, email.as_str()).as_bytes());
    format!(
        "participant-{}@masked.invalid",
        &HEXLOWER.encode(&digest)[..12]
    )
}

/// Rewrites a response body for the contact `me`.
pub fn for_participant(body: &mut Value, conversation: &Conversation, me: &EmailAddress) {
    let others: Vec<(String, String)> = conversation
        .participants
        .iter()
        .filter(|p| &p.email != me)
        .map(|p| (p.email.as_str().to_owned(), alias(conversation, &p.email)))
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
            }
            map.values_mut().for_each(|v| walk(v, others));
        }
        _ => {}
    }
}

/// The JSON body of a response about `conversation`, as `caller` may see it.
pub fn body_for(
    caller: &crate::auth::Caller,
    conversation: &Conversation,
    body: &impl serde::Serialize,
) -> Result<Value, crate::error::ApiError> {
    let mut value =
        serde_json::to_value(body).map_err(|e| crate::error::ApiError::Internal(e.to_string()))?;
    if let Some(me) = caller.contact() {
        for_participant(&mut value, conversation, me);
    }
    Ok(value)
}
