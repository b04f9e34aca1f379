//! The JSON body extractor: bounded size, JSON content type, unknown fields refused, and
//! errors as problem details. It also accepts the seed document's sample requests as
//! written: `Content-type: application/json;` and single-quoted strings
//! (`{'sender': "fred@example.com"}`), which strict JSON parsers refuse.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A parsed JSON body plus its raw bytes (hashed for `Idempotency-Key`).
#[derive(Debug)]
pub struct JsonBody<T> {
    /// The parsed value.
    pub value: T,
    /// The body as received.
    pub raw: Bytes,
}

/// The largest body accepted, set as app data from `MAX_BODY_BYTES`.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<BodyLimit>>()
            .map_or(256 * 1024, |l| l.0);
        let content_type_ok = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| {
                v.to_str()
                    .map(|s| {
                        let s = s.trim().to_ascii_lowercase();
                        s.starts_with("application/json")
                            || s.starts_with("application/merge-patch+json")
                    })
                    .unwrap_or(false)
            })
            .unwrap_or(true);
        let declared_too_large = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|len| len > limit);
        let mut payload = payload.take();
        Box::pin(async move {
            if declared_too_large {
                return Err(ApiError::PayloadTooLarge(limit));
            }
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| ApiError::MalformedJson(e.to_string()))?;
                if body.len() + chunk.len() > limit {
                    return Err(ApiError::PayloadTooLarge(limit));
                }
                body.extend_from_slice(&chunk);
            }
            let raw = body.freeze();
            if !content_type_ok && !raw.is_empty() {
                return Err(ApiError::UnsupportedMediaType);
            }
            let value = parse(&raw)?;
            Ok(Self { value, raw })
        })
    }
}

/// Parses a body; an empty body (or `null`) is `{}` (the seed creates an empty
/// conversation so). A JSON array is refused: serde would otherwise take `[a, b]` for a
/// struct's fields in order, a shape no document describes.
pub fn parse<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| ApiError::MalformedJson("the body is not UTF-8".into()))?;
    let trimmed = text.trim();
    let text = if trimmed.is_empty() || trimmed == "null" {
        "{}"
    } else {
        text
    };
    if trimmed.starts_with('[') {
        return Err(ApiError::InvalidBody(
            "the body is a JSON object, not an array".into(),
        ));
    }
    match serde_json::from_str::<T>(text) {
        Ok(value) => Ok(value),
        Err(e) if e.is_syntax() || e.is_eof() => match single_quotes_to_double(text) {
            Some(converted) => serde_json::from_str::<T>(&converted).map_err(classify),
            None => Err(classify(e)),
        },
        Err(e) => Err(classify(e)),
    }
}

fn classify(e: serde_json::Error) -> ApiError {
    if e.is_data() {
        ApiError::InvalidBody(e.to_string())
    } else {
        ApiError::MalformedJson(e.to_string())
    }
}

/// Rewrites single-quoted strings as JSON strings; `None` when there are none or a quote
/// is unterminated. Double-quoted strings are copied untouched.
fn single_quotes_to_double(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars();
    let mut converted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push('"');
                let mut escaped = false;
                for d in chars.by_ref() {
                    out.push(d);
                    if escaped {
                        escaped = false;
                    } else if d == '\\' {
                        escaped = true;
                    } else if d == '"' {
                        break;
                    }
                }
            }
            '\'' => {
                converted = true;
                out.push('"');
                let mut closed = false;
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => match chars.next()? {
                            '\'' => out.push('\''),
                            other => {
                                out.push('\\');
                                out.push(other);
                            }
                        },
                        '"' => out.push_str("\\\""),
                        '\'' => {
                            closed = true;
                            break;
                        }
                        other => out.push(other),
                    }
                }
                if !closed {
                    return None;
                }
                out.push('"');
            }
            other => out.push(other),
        }
    }
    converted.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Reply {
        sender: String,
        text: String,
    }

    #[test]
    fn the_seed_reply_with_single_quoted_keys_parses() {
        let seed = "{\n    'sender': \"fred@example.com\",\n    'text': \"this is a reply\"\n}";
        let reply: Reply = parse(seed.as_bytes()).unwrap();
        assert_eq!(reply.sender, "fred@example.com");
        assert_eq!(reply.text, "this is a reply");
    }

    #[test]
    fn quotes_inside_strings_survive_the_rewrite() {
        let body = r#"{'sender': 'a@example.com', 'text': "it's \"fine\""}"#;
        let reply: Reply = parse(body.as_bytes()).unwrap();
        assert_eq!(reply.text, "it's \"fine\"");
    }

    #[test]
    fn malformed_json_and_unknown_fields_are_told_apart() {
        assert!(matches!(
            parse::<Reply>(b"{'sender"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse::<Reply>(br#"{"sender":"a","text":"b","extra":1}"#),
            Err(ApiError::InvalidBody(_))
        ));
    }
}
