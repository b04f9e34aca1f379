//! Live signals between replicas. Replicas consume the events as competing consumers, so
//! each commits only some of the batches; each sends the signals of its batches to a
//! fanout exchange (`<AMQP_EXCHANGE>.live`) and feeds its own streams from a private
//! queue bound to it, so a browser connected to any replica hears of every change.
//!
//! The signals are hints, not data: they are published without persistence or confirms,
//! to an exchange and queues that vanish with the replicas. What could be lost while a
//! replica was cut off from the broker is covered by a `reset` to all its streams when it
//! is back (their pages refetch), and a reconnect in the browser resumes or resets as
//! usual.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::live::{Live, SignalKind, Unnumbered};

/// Batches of signals held while the broker is away; beyond that they are dropped (and
/// the streams reset when it is back).
const BUFFER: usize = 1024;

/// Where the relay runs.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// `AMQP_URL`.
    pub url: String,
    /// The fanout exchange: `<AMQP_EXCHANGE>.live`.
    pub exchange: String,
}

/// Routes `live`'s announcements through the broker from now on, until `stop`.
pub fn start(live: &Live, settings: RelaySettings, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let (sender, outgoing) = mpsc::channel(BUFFER);
    live.relay_through(sender);
    tokio::spawn(run(live.clone(), settings, outgoing, stop))
}

async fn run(
    live: Live,
    settings: RelaySettings,
    mut outgoing: mpsc::Receiver<Vec<Unnumbered>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connected_before = false;
    let mut backoff = Duration::from_millis(100);
    loop {
        match session(
            &live,
            &settings,
            &mut outgoing,
            &mut stop,
            &mut connected_before,
        )
        .await
        {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "live relay: lost the broker; reconnecting");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn session(
    live: &Live,
    settings: &RelaySettings,
    outgoing: &mut mpsc::Receiver<Vec<Unnumbered>>,
    stop: &mut watch::Receiver<bool>,
    connected_before: &mut bool,
) -> Result<(), lapin::Error> {
    let connection = tokio::time::timeout(
        Duration::from_secs(10),
        Connection::connect(&settings.url, ConnectionProperties::default()),
    )
    .await
    .map_err(|_| closed())??;
    let mut lost = Box::pin(conversations_bus::topology::connection_lost(&connection));
    let setup = async {
        let channel = connection.create_channel().await?;
        channel
            .exchange_declare(
                settings.exchange.as_str().into(),
                ExchangeKind::Fanout,
                ExchangeDeclareOptions {
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_bind(
                queue.name().clone(),
                settings.exchange.as_str().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let consumer = channel
            .basic_consume(
                queue.name().clone(),
                "metadata-query-live".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok::<_, lapin::Error>((channel, consumer))
    };
    let (channel, mut consumer) = tokio::select! {
        set_up = tokio::time::timeout(Duration::from_secs(10), setup) => {
            set_up.map_err(|_| closed())??
        }
        error = &mut lost => return Err(error),
    };
    if *connected_before {
        // Other replicas' signals of the time we were away never reached us.
        live.reset_everyone();
    }
    *connected_before = true;
    tracing::info!(exchange = %settings.exchange, "live relay connected");
    loop {
        tokio::select! {
            batch = outgoing.recv() => {
                let Some(batch) = batch else { return Ok(()) };
                channel
                    .basic_publish(
                        settings.exchange.as_str().into(),
                        "".into(),
                        BasicPublishOptions::default(),
                        &encode(&batch),
                        BasicProperties::default().with_content_type("application/json".into()),
                    )
                    .await?;
            }
            delivery = consumer.next() => match delivery {
                Some(Ok(delivery)) => live.publish(decode(&delivery.data)),
                Some(Err(error)) => return Err(error),
                None => return Err(closed()),
            },
            error = &mut lost => return Err(error),
            _ = stop.changed() => {
                let _ = connection.close(200, "stopping".into()).await;
                return Ok(());
            }
        }
    }
}

fn closed() -> lapin::Error {
    lapin::Error::from(lapin::ErrorKind::InvalidConnectionState(
        lapin::ConnectionState::Closed,
    ))
}

/// `[[app, contact, conversation, kind, seq], …]`.
fn encode(batch: &[Unnumbered]) -> Vec<u8> {
    let rows: Vec<Value> = batch
        .iter()
        .map(|(app, contact, conversation, kind)| {
            let (name, seq) = match kind {
                SignalKind::Message { seq } => ("message", *seq),
                SignalKind::Inbox => ("inbox", 0),
                SignalKind::Reset => ("reset", 0),
            };
            json!([app, contact, conversation, name, seq])
        })
        .collect();
    serde_json::to_vec(&rows).unwrap_or_default()
}

/// The signals of a relayed batch; what is not one of ours is skipped.
fn decode(data: &[u8]) -> Vec<Unnumbered> {
    let Ok(Value::Array(rows)) = serde_json::from_slice::<Value>(data) else {
        return Vec::new();
    };
    rows.iter()
        .filter_map(|row| {
            let field = |i: usize| row.get(i).and_then(Value::as_str).map(str::to_owned);
            let kind = match row.get(3).and_then(Value::as_str)? {
                "message" => SignalKind::Message {
                    seq: row.get(4).and_then(Value::as_u64)?,
                },
                "inbox" => SignalKind::Inbox,
                "reset" => SignalKind::Reset,
                _ => return None,
            };
            Some((field(0)?, field(1)?, field(2)?, kind))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relayed_batches_arrive_as_they_were_sent_and_garbage_is_skipped() {
        let batch = vec![
            (
                "app".to_owned(),
                "c1".to_owned(),
                "conv".to_owned(),
                SignalKind::Message { seq: 7 },
            ),
            (
                "app".to_owned(),
                "c2".to_owned(),
                "conv".to_owned(),
                SignalKind::Inbox,
            ),
        ];
        assert_eq!(decode(&encode(&batch)), batch);
        assert!(decode(b"not json").is_empty());
        assert!(decode(br#"[["a","b","c","bogus",1], 5]"#).is_empty());
    }
}
