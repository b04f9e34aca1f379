//! Catching up: a replica with an empty (or reset) database reads every event ever
//! committed from conversation-api's replay feed (`GET /internal/v1/events`; the outbox
//! keeps published events for this), then follows its queue. The all-in-one server has no
//! queue: it follows the outboxes themselves (conversation-api's and the notifier's), each
//! from the position recorded with the last batch it applied, so it never loses an event.

use std::time::Duration;

use conversations_events::feed::{FeedPage, PATH};
use data_encoding::BASE64;

use crate::consumer::Projector;
use crate::error::MetadataError;
use crate::store::{FeedPosition, Planned};

/// Events per feed page.
pub const PAGE: usize = 1000;

/// Where committed events can be replayed from.
#[derive(Clone, Debug)]
pub enum Feed {
    /// conversation-api's HTTP feed.
    Http {
        /// HTTP client.
        client: reqwest::Client,
        /// conversation-api's base URL.
        base_url: String,
        /// `FEED_TOKEN`.
        token: String,
    },
    /// An outbox in a database this process can read (all-in-one), with the checkpoint
    /// row its position is recorded in.
    Local {
        /// The outbox.
        outbox: conversations_db::Outbox,
        /// `mq_checkpoint.id` of this feed.
        checkpoint: i32,
    },
}

/// The checkpoint row of conversation-api's feed.
pub const CONVERSATIONS_FEED: i32 = 1;
/// The checkpoint row of the notifier's outbox (all-in-one only).
pub const NOTIFIER_FEED: i32 = 2;

impl Feed {
    /// The HTTP feed of conversation-api at `base_url`.
    pub fn http(base_url: &str, token: &str) -> Result<Self, MetadataError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| MetadataError::Setup(e.to_string()))?;
        Ok(Self::Http {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    /// The checkpoint row this feed's position is recorded in.
    pub fn checkpoint(&self) -> i32 {
        match self {
            Self::Http { .. } => CONVERSATIONS_FEED,
            Self::Local { checkpoint, .. } => *checkpoint,
        }
    }

    /// Events after `after`: (position, encoded envelope).
    pub async fn page(&self, after: i64) -> Result<Vec<(i64, Vec<u8>)>, MetadataError> {
        match self {
            Self::Local { outbox, .. } => {
                let outbox = outbox.clone();
                let rows = tokio::task::spawn_blocking(move || outbox.events_after(after, PAGE))
                    .await
                    .map_err(|e| MetadataError::Unavailable(e.to_string()))??;
                Ok(rows.into_iter().map(|r| (r.position, r.payload)).collect())
            }
            Self::Http {
                client,
                base_url,
                token,
            } => {
                let response = client
                    .get(format!("{base_url}{PATH}"))
                    .query(&[("after", after.to_string()), ("limit", PAGE.to_string())])
                    .bearer_auth(token)
                    .send()
                    .await
                    .map_err(|e| MetadataError::Unavailable(format!("event feed: {e}")))?;
                if !response.status().is_success() {
                    return Err(MetadataError::Unavailable(format!(
                        "event feed answered {}",
                        response.status()
                    )));
                }
                let page: FeedPage = response
                    .json()
                    .await
                    .map_err(|e| MetadataError::Unavailable(format!("event feed: {e}")))?;
                page.events
                    .into_iter()
                    .map(|e| {
                        BASE64
                            .decode(e.payload.as_bytes())
                            .map(|payload| (e.position, payload))
                            .map_err(|e| MetadataError::Unavailable(format!("event feed: {e}")))
                    })
                    .collect()
            }
        }
    }
}

/// Applies every event after the recorded feed position; returns how many it read.
/// Events that can never be projected are logged and skipped (the feed has no
/// dead-letter queue); the position still moves past them.
pub async fn catch_up(feed: &Feed, projector: &Projector) -> Result<u64, MetadataError> {
    let store = projector.store.clone();
    let checkpoint = feed.checkpoint();
    let mut after = tokio::task::spawn_blocking(move || store.feed_position(checkpoint))
        .await
        .map_err(|e| MetadataError::Unavailable(e.to_string()))??;
    let mut read = 0u64;
    loop {
        let page = feed.page(after).await?;
        let Some(&(last, _)) = page.last() else {
            return Ok(read);
        };
        let full = page.len() >= PAGE;
        read += page.len() as u64;
        let mut batch = Vec::with_capacity(page.len());
        for (position, payload) in page {
            match Projector::plan_payload(&payload) {
                Ok(update) => batch.push(Planned {
                    update,
                    feed_position: Some(FeedPosition {
                        checkpoint,
                        position,
                    }),
                }),
                Err(e) => tracing::error!(position, error = %e, "skipping event from the feed"),
            }
        }
        // Keeps the position moving even when the whole page was skipped.
        batch.push(Planned {
            update: crate::projection::Update::Ignore,
            feed_position: Some(FeedPosition {
                checkpoint,
                position: last,
            }),
        });
        projector.apply(batch).await?;
        after = last;
        if !full {
            return Ok(read);
        }
    }
}
