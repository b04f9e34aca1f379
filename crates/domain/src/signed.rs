//! The one format of our self-contained signed codes (participant tokens, sign-in links):
//! `base64url(body).base64url(HMAC-SHA-256(key, label ‖ body))`. Whoever holds the key can
//! check a code without looking anything up; the label keeps a code of one kind from
//! passing for another under the same key.

use data_encoding::BASE64URL_NOPAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn mac(key: &[u8], label: &[u8]) -> Option<Hmac<Sha256>> {
    // HMAC takes keys of any length; this never fails.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(label);
    Some(mac)
}

/// `body`, signed.
pub(crate) fn seal(key: &[u8], label: &[u8], body: &str) -> String {
    let tag = mac(key, label)
        .map(|mut m| {
            m.update(body.as_bytes());
            m.finalize().into_bytes().to_vec()
        })
        .unwrap_or_default();
    format!(
        "{}.{}",
        BASE64URL_NOPAD.encode(body.as_bytes()),
        BASE64URL_NOPAD.encode(&tag)
    )
}

/// The body of a genuine code no longer than `max_len`; `None` for anything else. The
/// signature is checked (in constant time) before the body is believed.
pub(crate) fn open(key: &[u8], label: &[u8], code: &str, max_len: usize) -> Option<String> {
    if code.len() > max_len {
        return None;
    }
    let (body, tag) = code.split_once('.')?;
    let body = BASE64URL_NOPAD.decode(body.as_bytes()).ok()?;
    let tag = BASE64URL_NOPAD.decode(tag.as_bytes()).ok()?;
    let mut check = mac(key, label)?;
    check.update(&body);
    check.verify_slice(&tag).ok()?;
    String::from_utf8(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_key_and_label_open_a_sealed_body() {
        let sealed = seal(b"key", b"label", "hello\nworld");
        assert_eq!(
            open(b"key", b"label", &sealed, 100).as_deref(),
            Some("hello\nworld")
        );
        assert_eq!(open(b"other", b"label", &sealed, 100), None);
        assert_eq!(open(b"key", b"other", &sealed, 100), None);
        assert_eq!(
            open(b"key", b"label", &sealed, 5),
            None,
            "longer than allowed"
        );
        assert_eq!(open(b"key", b"label", "garbage", 100), None);
    }
}
