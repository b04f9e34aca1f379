//! `POST /inbound/mail`: a raw mail (`message/rfc822`, what `inbound-mail deliver` sends),
//! or the forms hosted inbound providers post: `multipart/form-data` with the raw MIME in
//! `body-mime` (Mailgun, signed with `timestamp`/`token`/`signature` when
//! `MAILGUN_SIGNING_KEY` is set) or in `email` (SendGrid Inbound Parse, raw mode).
//!
//! Answers 200 with the inbound id and outcome when the mail was handled (posted, or
//! deliberately dropped and recorded), 404 when it names no reply address of ours, 4xx for
//! other permanent refusals, 503 when it should come again.

use std::net::IpAddr;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use hmac::{Hmac, Mac};
use mail_parser::{MessageParser, MimeHeaders};
use serde::Deserialize;
use sha2::Sha256;

use crate::error::InboundError;
use crate::pipeline::Inbound;

/// `?recipient=`: the envelope recipient (the pipe program passes the MTA's).
#[derive(Debug, Deserialize)]
pub struct IntakeQuery {
    /// The envelope recipient.
    pub recipient: Option<String>,
}

/// How old a Mailgun signature may be.
const MAILGUN_MAX_AGE_SECS: i64 = 15 * 60;

/// A provider form, read.
#[derive(Debug, Default)]
struct Form {
    raw: Option<Vec<u8>>,
    recipient: Option<String>,
    timestamp: Option<String>,
    token: Option<String>,
    signature: Option<String>,
}

/// Reads `multipart/form-data` with mail-parser: the body is a MIME multipart once its
/// content type is put in front of it.
fn read_form(content_type: &str, body: &[u8]) -> Result<Form, InboundError> {
    let mut mime = format!("Content-Type: {content_type}\r\n\r\n").into_bytes();
    mime.extend_from_slice(body);
    let message = MessageParser::default()
        .parse(&mime)
        .ok_or_else(|| InboundError::BadRequest("unreadable multipart/form-data".into()))?;
    let mut form = Form::default();
    for part in message.parts.iter().skip(1) {
        let Some(name) = part
            .content_disposition()
            .and_then(|d| d.attribute("name"))
            .map(str::to_owned)
        else {
            continue;
        };
        let value = part.contents();
        let text = || String::from_utf8_lossy(value).trim().to_owned();
        match name.as_str() {
            "body-mime" | "email" => form.raw = Some(value.to_vec()),
            "recipient" => form.recipient = Some(text()),
            // SendGrid: {"to":["…"],"from":"…"}
            "envelope" => {
                form.recipient = serde_json::from_slice::<serde_json::Value>(value)
                    .ok()
                    .and_then(|v| v.get("to")?.get(0)?.as_str().map(str::to_owned));
            }
            "timestamp" => form.timestamp = Some(text()),
            "token" => form.token = Some(text()),
            "signature" => form.signature = Some(text()),
            _ => {}
        }
    }
    Ok(form)
}

/// Mailgun's webhook signature: hex HMAC-SHA256 of `timestamp + token` with the signing key,
/// and a recent timestamp.
fn mailgun_signature_valid(key: &str, form: &Form, now: i64) -> bool {
    let (Some(timestamp), Some(token), Some(signature)) =
        (&form.timestamp, &form.token, &form.signature)
    else {
        return false;
    };
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| (now - t).abs() <= MAILGUN_MAX_AGE_SECS);
    let Ok(expected) = data_encoding::HEXLOWER_PERMISSIVE.decode(signature.as_bytes()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return false;
    };
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    fresh && mac.verify_slice(&expected).is_ok()
}

fn bearer_matches(req: &HttpRequest, secret: &str) -> bool {
    let presented = crate::auth::bearer(req).unwrap_or_default();
    subtle::ConstantTimeEq::ct_eq(presented.as_bytes(), secret.as_bytes()).into()
}

fn is_loopback(req: &HttpRequest) -> bool {
    req.peer_addr().map(|a| a.ip()).is_some_and(|ip| match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    })
}

/// Handles one posted mail. Permanent refusals of a provider form answer 406, which
/// providers take as "do not retry".
pub async fn receive(
    inbound: web::Data<Inbound>,
    req: HttpRequest,
    query: web::Query<IntakeQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, InboundError> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    match handle(inbound, req, query, body).await {
        Err(
            e @ (InboundError::UnknownAddress { .. }
            | InboundError::TooLarge(_)
            | InboundError::BadRequest(_)),
        ) if is_form => Err(InboundError::NotAcceptable(Box::new(e))),
        other => other,
    }
}

async fn handle(
    inbound: web::Data<Inbound>,
    req: HttpRequest,
    query: web::Query<IntakeQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, InboundError> {
    let config = inbound.config();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("message/rfc822")
        .to_owned();
    let is_form = content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data");
    let bearer_ok = config
        .inbound_secret
        .as_ref()
        .map(secrecy::ExposeSecret::expose_secret)
        .is_some_and(|secret| bearer_matches(&req, secret));
    let (raw, recipient) = if is_form {
        let form = read_form(&content_type, &body)?;
        let signed = config
            .mailgun_signing_key
            .as_ref()
            .map(secrecy::ExposeSecret::expose_secret)
            .map(|key| mailgun_signature_valid(key, &form, chrono::Utc::now().timestamp()));
        match signed {
            // A form claiming to be signed must be: a wrong signature is refused even
            // from loopback or with the bearer token.
            Some(false) if form.signature.is_some() => {
                return Err(InboundError::Unauthorized(
                    "the Mailgun signature does not verify (MAILGUN_SIGNING_KEY)",
                ));
            }
            Some(true) => {}
            _ => authorize(&req, config.inbound_secret.is_some(), bearer_ok)?,
        }
        let raw = form.raw.ok_or_else(|| {
            InboundError::BadRequest(
                "the form has no raw mail: send it in `body-mime` (Mailgun) or `email` (SendGrid, raw)".into(),
            )
        })?;
        (raw, form.recipient.or_else(|| query.recipient.clone()))
    } else {
        authorize(&req, config.inbound_secret.is_some(), bearer_ok)?;
        let kind = content_type.to_ascii_lowercase();
        if !(kind.starts_with("message/rfc822")
            || kind.starts_with("application/octet-stream")
            || kind.starts_with("text/plain"))
        {
            return Err(InboundError::UnsupportedMediaType(
                "send the raw mail as message/rfc822, or a provider's multipart/form-data",
            ));
        }
        (body.to_vec(), query.recipient.clone())
    };
    if raw.len() > config.max_bytes {
        return Err(InboundError::TooLarge(config.max_bytes));
    }
    let handled = inbound.receive(raw, recipient).await?;
    if handled.evaluation.unknown_address {
        return Err(InboundError::UnknownAddress {
            inbound_id: handled.id,
            reason: handled.evaluation.reason,
        });
    }
    Ok(HttpResponse::Ok().json(handled))
}

/// Intake needs `INBOUND_SECRET` when it is set, and a loopback caller when it is not.
fn authorize(req: &HttpRequest, secret_set: bool, bearer_ok: bool) -> Result<(), InboundError> {
    if secret_set {
        if bearer_ok {
            return Ok(());
        }
        return Err(InboundError::Unauthorized(
            "send `Authorization: Bearer <INBOUND_SECRET>`",
        ));
    }
    if is_loopback(req) {
        return Ok(());
    }
    Err(InboundError::Forbidden(
        "without INBOUND_SECRET, mail is accepted only from this host",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(key: &str, timestamp: &str, token: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(timestamp.as_bytes());
        mac.update(token.as_bytes());
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
    }

    #[test]
    fn provider_forms_are_read_and_mailgun_signatures_checked() {
        let now = 1_800_000_000;
        let signature = signed("key-1", "1800000000", "tok");
        let body = format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"recipient\"\r\n\r\nr1@reply.example\r\n--XyZ\r\nContent-Disposition: form-data; name=\"timestamp\"\r\n\r\n1800000000\r\n--XyZ\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\ntok\r\n--XyZ\r\nContent-Disposition: form-data; name=\"signature\"\r\n\r\n{signature}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"body-mime\"\r\n\r\nFrom: a@b.example\r\nSubject: hi\r\n\r\nHello\r\n--XyZ--\r\n"
        );
        let form = read_form("multipart/form-data; boundary=XyZ", body.as_bytes()).unwrap();
        assert_eq!(form.recipient.as_deref(), Some("r1@reply.example"));
        let raw = String::from_utf8(form.raw.clone().unwrap()).unwrap();
        assert!(
            raw.starts_with("From: a@b.example\r\nSubject: hi"),
            "{raw:?}"
        );
        assert!(mailgun_signature_valid("key-1", &form, now));
        assert!(!mailgun_signature_valid("key-2", &form, now));
        assert!(
            !mailgun_signature_valid("key-1", &form, now + 3600),
            "a replayed old form"
        );
    }

    #[test]
    fn sendgrid_forms_carry_the_recipient_in_the_envelope_field() {
        let body = "--b\r\nContent-Disposition: form-data; name=\"envelope\"\r\n\r\n{\"to\":[\"r2@reply.example\"],\"from\":\"a@b.example\"}\r\n--b\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nFrom: a@b.example\r\n\r\nHi\r\n--b--\r\n";
        let form = read_form("multipart/form-data; boundary=b", body.as_bytes()).unwrap();
        assert_eq!(form.recipient.as_deref(), Some("r2@reply.example"));
        assert!(form.raw.is_some());
    }
}
