//! API keys as every service recognises them: conversation-api issues them and stores only
//! their hash; other services (metadata-query) learn the hashes from
//! `application_key_issued` events and check presented keys the same way.

use data_encoding::HEXLOWER;
use sha2::{Digest, Sha256};

/// Prefix of every API key, so leaked keys are easy to recognise (and scan for).
pub const KEY_PREFIX: &str = "cvk_";

/// Whether `credential` can be an API key at all (our prefix, sane length): anything else
/// is refused without hashing it or asking a database.
pub fn looks_like_key(credential: &str) -> bool {
    credential.starts_with(KEY_PREFIX) && credential.len() <= 128
}

/// Hex SHA-256 of a key: what is stored, and what other services receive to recognise the
/// key without ever seeing it (keys are 256 random bits, so a fast hash is enough).
pub fn hash_key(key: &str) -> String {
    HEXLOWER.encode(&Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_prefixed_keys_of_sane_length_are_considered() {
        assert!(looks_like_key("cvk_abc"));
        assert!(!looks_like_key("Bearer cvk_abc"));
        assert!(!looks_like_key(&format!("cvk_{}", "a".repeat(200))));
    }

    #[test]
    fn hashes_are_hex_sha256() {
        assert_eq!(
            hash_key("cvk_x"),
            HEXLOWER.encode(&Sha256::digest(b"cvk_x"))
        );
        assert_eq!(hash_key("cvk_x").len(), 64);
    }
}
