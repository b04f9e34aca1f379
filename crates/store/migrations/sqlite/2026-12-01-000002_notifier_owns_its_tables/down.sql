CREATE TABLE notification_deliveries (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    message_seq BIGINT NOT NULL,
    participant_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_by TEXT,
    smtp_reply TEXT,
    envelope_from TEXT NOT NULL,
    raw_message BLOB,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CONSTRAINT deliveries_once UNIQUE (conversation_id, message_seq, participant_id)
);
CREATE INDEX deliveries_due ON notification_deliveries (next_attempt_at)
    WHERE status IN ('pending', 'retry', 'sending');

CREATE TABLE suppressed_addresses (
    app_id TEXT NOT NULL,
    email TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (app_id, email)
);
