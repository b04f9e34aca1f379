//! The all-in-one bus: no copy of the events travels anywhere. The outbox itself is the
//! log; the relay sequences committed rows and announces the new head position here, and
//! each in-process consumer reads the outbox from the position it recorded after handling
//! its last event. A slow or crashed consumer therefore loses nothing: it catches up from
//! its own position, however far behind it is.

use tokio::sync::watch;

/// The head position of one outbox, announced to in-process consumers.
#[derive(Clone, Debug)]
pub struct InProcessBus {
    head: watch::Sender<i64>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcessBus {
    /// A bus whose head is unknown (0) until the relay's first step.
    pub fn new() -> Self {
        let (head, _) = watch::channel(0);
        Self { head }
    }

    /// Wakes whenever new events have been sequenced. Only the newest head is kept: a
    /// consumer reads everything after its own position anyway.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    /// Announces that events up to `head` can be read.
    pub fn announce(&self, head: i64) {
        self.head.send_if_modified(|current| {
            let newer = head > *current;
            if newer {
                *current = head;
            }
            newer
        });
    }
}
