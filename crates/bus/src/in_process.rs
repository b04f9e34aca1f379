//! The all-in-one bus: published events are broadcast to in-process subscribers (the
//! notifier and metadata-query consumers run in the same process there).

use std::sync::Arc;

use tokio::sync::broadcast;

/// One event as delivered to consumers, whatever the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedEvent {
    /// UUIDv7 of the event.
    pub event_id: String,
    /// The event type (the AMQP routing key).
    pub event_type: String,
    /// The encoded protobuf envelope.
    pub payload: Vec<u8>,
}

/// A broadcast channel of published events.
#[derive(Clone, Debug)]
pub struct InProcessBus {
    sender: broadcast::Sender<Arc<PublishedEvent>>,
}

impl InProcessBus {
    /// A bus buffering up to `capacity` events per slow subscriber.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }

    /// Receives every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<PublishedEvent>> {
        self.sender.subscribe()
    }

    /// Hands an event to the current subscribers (none is fine: the outbox keeps it).
    pub fn publish(&self, event: PublishedEvent) {
        // An error only means nobody is subscribed yet.
        let _ = self.sender.send(Arc::new(event));
    }
}
