//! The consuming side's AMQP topology, declared the same way by every consumer service:
//! the events exchange, a durable quorum work queue bound to the event types it wants,
//! with `x-delivery-limit`, and a dead-letter exchange and queue where what could never be
//! processed waits for an operator. Every argument is spelled out (RabbitMQ 3.10 has no
//! policy defaults we rely on).

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, ExchangeKind};

/// A consumer's queue.
#[derive(Debug, Clone)]
pub struct ConsumerQueue<'a> {
    /// The topic exchange events are published to.
    pub exchange: &'a str,
    /// The durable work queue.
    pub queue: &'a str,
    /// Routing keys (event types) to bind; `#` for every event.
    pub routing_keys: &'a [&'a str],
    /// Deliveries before an event is dead-lettered.
    pub delivery_limit: u32,
}

impl ConsumerQueue<'_> {
    /// Name of the dead-letter exchange and queue: `<queue>.dead-letter`.
    pub fn dead_letter_name(&self) -> String {
        format!("{}.dead-letter", self.queue)
    }

    /// Declares exchange, dead-letter exchange and queue, and the bound work queue.
    /// Idempotent: every replica declares it on every (re)connect.
    pub async fn declare(&self, channel: &Channel) -> Result<(), lapin::Error> {
        let durable_exchange = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let durable_queue = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let dead_letter = self.dead_letter_name();
        channel
            .exchange_declare(
                self.exchange.into(),
                ExchangeKind::Topic,
                durable_exchange,
                FieldTable::default(),
            )
            .await?;
        channel
            .exchange_declare(
                dead_letter.as_str().into(),
                ExchangeKind::Fanout,
                durable_exchange,
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_declare(
                dead_letter.as_str().into(),
                durable_queue,
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_bind(
                dead_letter.as_str().into(),
                dead_letter.as_str().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        // Quorum: required for x-delivery-limit on RabbitMQ 3.10, and replicated.
        let mut arguments = FieldTable::default();
        arguments.insert(
            ShortString::from("x-queue-type"),
            AMQPValue::LongString("quorum".into()),
        );
        arguments.insert(
            ShortString::from("x-delivery-limit"),
            AMQPValue::LongInt(i32::try_from(self.delivery_limit).unwrap_or(5)),
        );
        arguments.insert(
            ShortString::from("x-dead-letter-exchange"),
            AMQPValue::LongString(dead_letter.as_str().into()),
        );
        channel
            .queue_declare(self.queue.into(), durable_queue, arguments)
            .await?;
        for key in self.routing_keys {
            channel
                .queue_bind(
                    self.queue.into(),
                    self.exchange.into(),
                    (*key).into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        Ok(())
    }
}

/// Resolves with the error once `connection` reports one. lapin's consumer streams do not
/// always end when the connection dies (a cut TCP connection can leave a consumer waiting
/// for ever), so every consume loop races its session against this and reconnects.
pub fn connection_lost(
    connection: &lapin::Connection,
) -> impl std::future::Future<Output = lapin::Error> + Send + 'static {
    use futures_util::StreamExt;
    let mut events = connection.events_listener();
    async move {
        while let Some(event) = events.next().await {
            if let lapin::Event::Error(error) = event {
                return error;
            }
        }
        lapin::Error::from(lapin::ErrorKind::InvalidConnectionState(
            lapin::ConnectionState::Closed,
        ))
    }
}
