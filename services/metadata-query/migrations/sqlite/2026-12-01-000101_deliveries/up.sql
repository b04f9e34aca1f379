-- Notification status per (message, recipient): `pending` / `muted` from message_posted,
-- then the notifier's events (notification_sent, _deferred, _failed, _suppressed,
-- _muted). A final state (rank 2) is never replaced by an earlier one.
CREATE TABLE mq_deliveries (
    conversation_id TEXT NOT NULL,
    message_seq BIGINT NOT NULL,
    participant_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL,
    status_rank INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    smtp_reply TEXT,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (conversation_id, message_seq, participant_id)
);

-- The all-in-one also follows the notifier's outbox: its position is row 2.
INSERT INTO mq_checkpoint (id, feed_position) VALUES (2, 0);
