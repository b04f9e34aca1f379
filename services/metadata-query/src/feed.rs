//! Catching up: a replica with an empty (or reset) database reads every event ever
//! committed from conversation-api's replay feed (`GET /internal/v1/events`; the outbox
//! keeps published events for this), then follows its queue. The all-in-one server has no
//! queue: it follows the outboxes themselves (conversation-api's and the notifier's), each
//! from the position recorded with the last batch it applied, so it never loses an event.

use std::time::Duration;

use conversations_events::feed::{FeedPage, PATH, SNAPSHOT_PATH, SnapshotPage};
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

    /// Events after `after`, with the lowest position the feed still keeps.
    pub async fn page(&self, after: i64) -> Result<FeedRead, MetadataError> {
        match self {
            Self::Local { outbox, .. } => {
                let outbox = outbox.clone();
                tokio::task::spawn_blocking(move || {
                    let rows = outbox.events_after(after, PAGE)?;
                    Ok(FeedRead {
                        events: rows.into_iter().map(|r| (r.position, r.payload)).collect(),
                        oldest: Some(outbox.oldest()?),
                    })
                })
                .await
                .map_err(|e| MetadataError::Unavailable(e.to_string()))?
            }
            Self::Http {
                client,
                base_url,
                token,
            } => {
                let page: FeedPage = get_json(
                    client,
                    &format!("{base_url}{PATH}"),
                    token,
                    &[("after", after.to_string()), ("limit", PAGE.to_string())],
                )
                .await?;
                let events = page
                    .events
                    .into_iter()
                    .map(|e| Ok((e.position, decode(&e.payload)?)))
                    .collect::<Result<_, MetadataError>>()?;
                Ok(FeedRead {
                    events,
                    oldest: page.oldest,
                })
            }
        }
    }

    /// One page of conversation-api's snapshot of current state.
    async fn snapshot(&self, after: Option<&str>) -> Result<SnapshotPage, MetadataError> {
        let Self::Http {
            client,
            base_url,
            token,
        } = self
        else {
            return Err(MetadataError::Setup(
                "the outbox was pruned beyond this projection's position and only \
                 conversation-api's HTTP snapshot can rebuild it: start metadata-query with \
                 FEED_URL, or keep metadata.db"
                    .into(),
            ));
        };
        let mut query = vec![("limit", SNAPSHOT_PAGE.to_string())];
        if let Some(after) = after {
            query.push(("after", after.to_owned()));
        }
        get_json(client, &format!("{base_url}{SNAPSHOT_PATH}"), token, &query).await
    }
}

/// A page read from a feed.
#[derive(Debug)]
pub struct FeedRead {
    /// (position, encoded envelope), in position order.
    pub events: Vec<(i64, Vec<u8>)>,
    /// The lowest position the feed still keeps (read after the events).
    pub oldest: Option<i64>,
}

impl FeedRead {
    /// Whether events right after `after` were pruned before this reader got them.
    fn missed_after(&self, after: i64) -> bool {
        match self.events.first() {
            Some(&(first, _)) => first > after + 1,
            None => self.oldest.is_some_and(|oldest| oldest > after + 1),
        }
    }
}

/// Conversations per snapshot page.
const SNAPSHOT_PAGE: usize = 100;

fn decode(payload: &str) -> Result<Vec<u8>, MetadataError> {
    BASE64
        .decode(payload.as_bytes())
        .map_err(|e| MetadataError::Unavailable(format!("event feed: {e}")))
}

async fn get_json<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &[(&str, String)],
) -> Result<T, MetadataError> {
    let response = client
        .get(url)
        .query(query)
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
    response
        .json()
        .await
        .map_err(|e| MetadataError::Unavailable(format!("event feed: {e}")))
}

/// Rebuilds the projection from the snapshot: empties it, applies the snapshot's pages,
/// and records the snapshot's feed position; the feed continues from there.
async fn rebuild_from_snapshot(feed: &Feed, projector: &Projector) -> Result<u64, MetadataError> {
    let checkpoint = feed.checkpoint();
    tracing::warn!(
        "the event feed was pruned beyond this projection's position; rebuilding from conversation-api's snapshot"
    );
    let mut page = feed.snapshot(None).await?;
    let head = page.head;
    let store = projector.store.clone();
    tokio::task::spawn_blocking(move || store.reset())
        .await
        .map_err(|e| MetadataError::Unavailable(e.to_string()))??;
    let mut read = 0u64;
    loop {
        read += page.events.len() as u64;
        let mut batch = Vec::with_capacity(page.events.len());
        for e in &page.events {
            match projector.plan_payload(&decode(&e.payload)?) {
                Ok(update) => batch.push(Planned {
                    update,
                    feed_position: None,
                }),
                Err(e) => tracing::error!(error = %e, "skipping event from the snapshot"),
            }
        }
        projector.apply(batch).await?;
        let Some(after) = page.next.take() else {
            break;
        };
        page = feed.snapshot(Some(&after)).await?;
    }
    projector
        .apply(vec![Planned {
            update: crate::projection::Update::Ignore,
            feed_position: Some(FeedPosition {
                checkpoint,
                position: head,
            }),
        }])
        .await?;
    tracing::info!(events = read, head, "projection rebuilt from the snapshot");
    Ok(read)
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
        let read_page = feed.page(after).await?;
        // Events after our position were pruned: only the snapshot can bring them back.
        if read_page.missed_after(after) {
            read += rebuild_from_snapshot(feed, projector).await?;
            let store = projector.store.clone();
            after = tokio::task::spawn_blocking(move || store.feed_position(checkpoint))
                .await
                .map_err(|e| MetadataError::Unavailable(e.to_string()))??;
            continue;
        }
        let page = read_page.events;
        let Some(&(last, _)) = page.last() else {
            return Ok(read);
        };
        let full = page.len() >= PAGE;
        read += page.len() as u64;
        let mut batch = Vec::with_capacity(page.len());
        for (position, payload) in page {
            match projector.plan_payload(&payload) {
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
