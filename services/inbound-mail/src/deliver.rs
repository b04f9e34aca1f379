//! `inbound-mail deliver`: the program an MTA pipes each message into. It reads one mail
//! on stdin (refusing more than `INBOUND_MAX_BYTES` while reading), posts it to the intake
//! (`POST /inbound/mail`), and exits with a sysexits code the MTA understands:
//!
//! - 0: handled (posted, or deliberately dropped and recorded);
//! - 67 (`EX_NOUSER`): no such reply address; the MTA bounces with "unknown user";
//! - 65 (`EX_DATAERR`): larger than `INBOUND_MAX_BYTES`; the MTA returns it to its sender;
//! - 75 (`EX_TEMPFAIL`): anything else: the service, its database or conversation-api
//!   unreachable, a timeout, a misconfiguration, a bug. The MTA keeps the mail and retries.
//!
//! Postfix bounces on every code but 75 and 71, so nothing else may surface: `main`
//! turns panics and unexpected errors into 75.

use std::io::Read;
use std::time::Duration;

/// Handled.
pub const EX_OK: i32 = 0;
/// Larger than allowed.
pub const EX_DATAERR: i32 = 65;
/// No such reply address.
pub const EX_NOUSER: i32 = 67;
/// Try again later.
pub const EX_TEMPFAIL: i32 = 75;

/// What `deliver` needs; everything can come from the command line (Postfix's pipe passes
/// only PATH, LANG and MAIL_CONFIG to the program).
#[derive(Debug, Clone)]
pub struct DeliverArgs {
    /// The intake's base URL (`--url`, `INBOUND_URL`; default the all-in-one's).
    pub url: String,
    /// `INBOUND_SECRET` (from `--secret-file` or the environment).
    pub secret: Option<String>,
    /// The envelope recipient (`--recipient ${recipient}`).
    pub recipient: Option<String>,
    /// The largest mail (`--max-bytes`, `INBOUND_MAX_BYTES`; default 25 MiB).
    pub max_bytes: usize,
    /// How long to wait for the service (`--timeout-secs`; default 60).
    pub timeout: Duration,
}

impl DeliverArgs {
    /// Reads `args` (after `deliver`) and the environment.
    pub fn parse(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut url = env("INBOUND_URL").unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
        let mut secret = env("INBOUND_SECRET");
        let mut recipient = None;
        let mut max_bytes = match env("INBOUND_MAX_BYTES") {
            Some(v) => v
                .trim()
                .parse()
                .map_err(|e| format!("INBOUND_MAX_BYTES: {e}"))?,
            None => 25 * 1024 * 1024,
        };
        let mut timeout = Duration::from_secs(60);
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (arg.as_str(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| rest.next().cloned())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match name {
                "--url" => url = value()?,
                "--secret-file" => {
                    let path = value()?;
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("--secret-file {path}: {e}"))?;
                    secret = Some(text.trim().to_owned()).filter(|s| !s.is_empty());
                }
                "--recipient" => recipient = Some(value()?).filter(|r| !r.is_empty()),
                "--max-bytes" => {
                    max_bytes = value()?.parse().map_err(|e| format!("--max-bytes: {e}"))?;
                }
                "--timeout-secs" => {
                    timeout = Duration::from_secs(
                        value()?
                            .parse()
                            .map_err(|e| format!("--timeout-secs: {e}"))?,
                    );
                }
                other => return Err(format!("unknown option {other}")),
            }
        }
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            secret,
            recipient,
            max_bytes,
            timeout,
        })
    }
}

/// Reads at most `max` bytes; `Ok(None)` when there are more.
pub fn read_bounded(input: impl Read, max: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut raw = Vec::new();
    input
        .take(u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut raw)?;
    Ok((raw.len() <= max).then_some(raw))
}

/// Posts the mail and returns the exit code, with a line for the MTA's log (Postfix puts
/// stderr in the bounce or deferral reason).
pub async fn deliver(args: &DeliverArgs, raw: Vec<u8>) -> (i32, String) {
    let client = match reqwest::Client::builder()
        .timeout(args.timeout)
        .connect_timeout(args.timeout.min(Duration::from_secs(10)))
        .build()
    {
        Ok(client) => client,
        Err(e) => return (EX_TEMPFAIL, format!("cannot make an HTTP client: {e}")),
    };
    let mut request = client
        .post(format!("{}{}", args.url, crate::routes::INTAKE_PATH))
        .header("content-type", "message/rfc822")
        .body(raw);
    if let Some(recipient) = &args.recipient {
        request = request.query(&[("recipient", recipient)]);
    }
    if let Some(secret) = &args.secret {
        request = request.bearer_auth(secret);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => return (EX_TEMPFAIL, format!("inbound service unreachable: {e}")),
    };
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let text = |key: &str| {
        body.get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    match status.as_u16() {
        200..=299 => (
            EX_OK,
            format!("{} ({}): {}", text("outcome"), text("id"), text("reason")),
        ),
        404 if text("type").ends_with("/unknown-address") => (
            EX_NOUSER,
            format!("no such reply address: {}", text("detail")),
        ),
        413 => (EX_DATAERR, text("detail")),
        _ => (
            EX_TEMPFAIL,
            format!("inbound service answered {status}: {}", text("detail")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_can_come_from_the_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let args: Vec<String> = [
            "--url",
            "http://10.0.0.1:9000/",
            "--secret-file",
            secret.to_str().unwrap(),
            "--recipient=r1@reply.example",
            "--max-bytes",
            "100",
        ]
        .map(String::from)
        .to_vec();
        let parsed = DeliverArgs::parse(&args, |_| None).unwrap();
        assert_eq!(parsed.url, "http://10.0.0.1:9000");
        assert_eq!(parsed.secret.as_deref(), Some("s3cret"));
        assert_eq!(parsed.recipient.as_deref(), Some("r1@reply.example"));
        assert_eq!(parsed.max_bytes, 100);
        assert!(DeliverArgs::parse(&["--bogus".into()], |_| None).is_err());
        assert!(DeliverArgs::parse(&["--url".into()], |_| None).is_err());
    }

    #[test]
    fn reading_stops_past_the_limit() {
        assert_eq!(
            read_bounded(&b"12345"[..], 5).unwrap(),
            Some(b"12345".to_vec())
        );
        assert_eq!(read_bounded(&b"123456"[..], 5).unwrap(), None);
    }
}
