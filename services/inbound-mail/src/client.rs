//! conversation-api's internal routes, as inbound-mail calls them: who a reply address
//! names, posting a reply, whose an API key is. Any failure to get an answer is
//! [`ClientError::Unavailable`]: the mail is retried later, never dropped.

use std::time::Duration;

use conversations_events::internal::{
    EmailReply, KeyOwner, KeyToVerify, PostedReply, REPLY_TARGETS, ReplyTarget, ReplyTargetAnswer,
    VERIFY_KEY, email_replies,
};
use reqwest::StatusCode;

/// Why conversation-api gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Unreachable, timed out, 5xx, 409 busy, or an answer we cannot read: try again later.
    #[error("conversation-api is unavailable: {0}")]
    Unavailable(String),
    /// It refused the request for good (4xx), with its problem detail.
    #[error("conversation-api refused: {0}")]
    Refused(String),
}

/// A client of conversation-api's internal routes.
#[derive(Debug, Clone)]
pub struct ConversationsClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// Carries the current trace to conversation-api, so a reply by mail shows as one trace
/// from intake to the posted message and its notifications.
trait Traced {
    fn header_traced(self) -> Self;
}

impl Traced for reqwest::RequestBuilder {
    fn header_traced(self) -> Self {
        match conversations_telemetry::traceparent() {
            Some(traceparent) => {
                self.header(conversations_telemetry::context::TRACEPARENT, traceparent)
            }
            None => self,
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> ClientError {
    ClientError::Unavailable(e.to_string())
}

async fn detail(response: reqwest::Response) -> String {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
        .unwrap_or(body);
    format!("{status}: {detail}")
}

impl ConversationsClient {
    /// `base` is conversation-api's URL (`CONVERSATION_API_URL`), `token` its
    /// `INTERNAL_TOKEN`.
    pub fn new(base: &str, token: &str, timeout: Duration) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(unavailable)?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    /// Whom `(conversation, participant)` names; `None` when either does not exist (or
    /// the conversation was deleted).
    pub async fn reply_target(
        &self,
        conversation: &str,
        participant: &str,
        with_people: bool,
    ) -> Result<Option<ReplyTarget>, ClientError> {
        let response = self
            .http
            .get(format!(
                "{}{REPLY_TARGETS}/{conversation}/{participant}?people={with_people}",
                self.base
            ))
            .bearer_auth(&self.token)
            .header_traced()
            .send()
            .await
            .map_err(unavailable)?;
        // Anything but 200 (a 404 too: the route is missing) is for later.
        match response.status() {
            StatusCode::OK => response
                .json::<ReplyTargetAnswer>()
                .await
                .map(|a| a.target)
                .map_err(unavailable),
            _ => Err(ClientError::Unavailable(detail(response).await)),
        }
    }

    /// Posts a reply. The same idempotency key returns the message posted the first time.
    pub async fn post_reply(
        &self,
        conversation: &str,
        reply: &EmailReply,
    ) -> Result<PostedReply, ClientError> {
        let response = self
            .http
            .post(format!("{}{}", self.base, email_replies(conversation)))
            .bearer_auth(&self.token)
            .header_traced()
            .json(reply)
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(unavailable);
        }
        // 409 is a busy conversation, 401 a token mismatch between services, 404 a
        // missing route (or a conversation deleted since the lookup, which the next
        // attempt finds): all for a moment or an operator to fix, not for the sender.
        if status.is_client_error()
            && ![
                StatusCode::CONFLICT,
                StatusCode::UNAUTHORIZED,
                StatusCode::NOT_FOUND,
                StatusCode::TOO_MANY_REQUESTS,
            ]
            .contains(&status)
        {
            return Err(ClientError::Refused(detail(response).await));
        }
        Err(ClientError::Unavailable(detail(response).await))
    }

    /// The application an API key belongs to; `None` for an unknown key (any status but
    /// 200 means our own `INTERNAL_TOKEN` or URL is wrong: unavailability, not a bad key).
    pub async fn key_owner(&self, key: &str) -> Result<Option<String>, ClientError> {
        let response = self
            .http
            .post(format!("{}{VERIFY_KEY}", self.base))
            .bearer_auth(&self.token)
            .header_traced()
            .json(&KeyToVerify {
                key: key.to_owned(),
            })
            .send()
            .await
            .map_err(unavailable)?;
        match response.status() {
            StatusCode::OK => response
                .json::<KeyOwner>()
                .await
                .map(|o| o.app_id)
                .map_err(unavailable),
            _ => Err(ClientError::Unavailable(detail(response).await)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// conversation-api without `INTERNAL_TOKEN` (or a gateway that does not route
    /// `/internal`) answers 404 to everything: that must never read as "no such
    /// conversation" or "unknown key", or every reply would bounce.
    #[tokio::test]
    async fn a_missing_route_is_unavailability_not_a_missing_conversation() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = actix_web::HttpServer::new(actix_web::App::new)
            .workers(1)
            .listen(listener)
            .unwrap()
            .run();
        let handle = server.handle();
        tokio::spawn(server);
        let client = ConversationsClient::new(&base, "token", Duration::from_secs(5)).unwrap();
        assert!(matches!(
            client.reply_target("c", "p", true).await,
            Err(ClientError::Unavailable(_))
        ));
        assert!(matches!(
            client.key_owner("cvk_x").await,
            Err(ClientError::Unavailable(_))
        ));
        let reply = EmailReply {
            app_id: "a".into(),
            participant_id: "p".into(),
            text: "t".into(),
            idempotency_key: "k".into(),
            read_up_to: None,
            inbound_id: None,
            trimmed_text: None,
        };
        assert!(matches!(
            client.post_reply("c", &reply).await,
            Err(ClientError::Unavailable(_))
        ));
        handle.stop(false).await;
    }
}
