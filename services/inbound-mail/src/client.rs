//! conversation-api's internal routes, as inbound-mail calls them: who a reply address
//! names, posting a reply, whose an API key is. Any failure to get an answer is
//! [`ClientError::Unavailable`]: the mail is retried later, never dropped.

use std::time::Duration;

use conversations_events::internal::{
    EmailReply, KeyOwner, KeyToVerify, PostedReply, REPLY_TARGETS, ReplyTarget, VERIFY_KEY,
    email_replies,
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
    ) -> Result<Option<ReplyTarget>, ClientError> {
        let response = self
            .http
            .get(format!(
                "{}{REPLY_TARGETS}/{conversation}/{participant}",
                self.base
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(unavailable)?;
        match response.status() {
            StatusCode::OK => response.json().await.map(Some).map_err(unavailable),
            StatusCode::NOT_FOUND => Ok(None),
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
            .json(reply)
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(unavailable);
        }
        // 409 is a busy conversation and 401 a token mismatch between services: both
        // are for an operator or a moment to fix, not for the sender.
        if status.is_client_error()
            && status != StatusCode::CONFLICT
            && status != StatusCode::UNAUTHORIZED
            && status != StatusCode::TOO_MANY_REQUESTS
        {
            return Err(ClientError::Refused(detail(response).await));
        }
        Err(ClientError::Unavailable(detail(response).await))
    }

    /// The application an API key belongs to; `None` for an unknown key (404; a 401 means
    /// our own `INTERNAL_TOKEN` is wrong, which is unavailability to fix, not a bad key).
    pub async fn key_owner(&self, key: &str) -> Result<Option<String>, ClientError> {
        let response = self
            .http
            .post(format!("{}{VERIFY_KEY}", self.base))
            .bearer_auth(&self.token)
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
                .map(|o| Some(o.app_id))
                .map_err(unavailable),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(ClientError::Unavailable(detail(response).await)),
        }
    }
}
