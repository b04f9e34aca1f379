//! RFC 9457 problem details: how every service answers an error, built in one place so
//! that the body, the media type and the headers a client relies on (`WWW-Authenticate`
//! on 401, `Retry-After` when trying again helps) are the same whichever service answers.
//! Each service keeps its own error enum and says, per variant, which problem it is.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use serde::Serialize;

/// The problem document (`application/problem+json`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem (`/problems/<slug>`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request, for a human.
    pub detail: String,
}

/// A problem answer being built: `problem(status, slug, title, detail)`, then the
/// optional parts, then [`ProblemResponse::into_response`] (or `.into()`).
#[derive(Debug)]
#[must_use]
pub struct ProblemResponse {
    status: StatusCode,
    problem: Problem,
    bearer_challenge: bool,
    retry_after_secs: Option<u32>,
    extension: Option<(&'static str, String)>,
}

/// Starts the answer for a problem of kind `slug` (`/problems/<slug>`).
pub fn problem(
    status: StatusCode,
    slug: &str,
    title: &'static str,
    detail: impl Into<String>,
) -> ProblemResponse {
    ProblemResponse {
        status,
        problem: Problem {
            kind: format!("/problems/{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
        },
        bearer_challenge: status == StatusCode::UNAUTHORIZED,
        retry_after_secs: None,
        extension: None,
    }
}

impl ProblemResponse {
    /// Tells the client when trying again makes sense (`Retry-After`).
    pub fn retry_after(mut self, seconds: Option<u32>) -> Self {
        self.retry_after_secs = seconds;
        self
    }

    /// Adds one extension member (RFC 9457 §3.2), e.g. the id of a recorded mail.
    pub fn extension(mut self, name: &'static str, value: Option<String>) -> Self {
        self.extension = value.map(|v| (name, v));
        self
    }

    /// The HTTP response.
    pub fn into_response(self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        if self.bearer_challenge {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if let Some(seconds) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        let body = match (serde_json::to_value(&self.problem), self.extension) {
            (Ok(serde_json::Value::Object(mut members)), Some((name, value))) => {
                members.insert(name.to_owned(), serde_json::Value::String(value));
                serde_json::Value::Object(members).to_string()
            }
            (Ok(document), None) => document.to_string(),
            _ => String::new(),
        };
        response.body(body)
    }
}

impl From<ProblemResponse> for HttpResponse {
    fn from(problem: ProblemResponse) -> Self {
        problem.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn parts(response: HttpResponse) -> (StatusCode, Vec<(String, String)>, serde_json::Value) {
        let status = response.status();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let body = response.into_body().try_into_bytes().unwrap_or_default();
        (
            status,
            headers,
            serde_json::from_slice(&body).unwrap_or_default(),
        )
    }

    #[test]
    fn a_problem_is_a_problem_document_with_the_headers_a_client_needs() {
        let (status, headers, body) = parts(
            problem(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unauthorized",
                "no key",
            )
            .into(),
        );
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(headers.contains(&("content-type".into(), "application/problem+json".into())));
        assert!(headers.contains(&("www-authenticate".into(), "Bearer".into())));
        assert_eq!(
            body,
            serde_json::json!({"type": "/problems/unauthorized", "title": "Unauthorized", "status": 401, "detail": "no key"})
        );

        let (_, headers, body) = parts(
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                "later",
            )
            .retry_after(Some(30))
            .extension("inbound_id", Some("abc".into()))
            .into(),
        );
        assert!(headers.contains(&("retry-after".into(), "30".into())));
        assert!(!headers.iter().any(|(k, _)| k == "www-authenticate"));
        assert_eq!(body["inbound_id"], "abc");
        assert_eq!(body["status"], 503);
    }
}
