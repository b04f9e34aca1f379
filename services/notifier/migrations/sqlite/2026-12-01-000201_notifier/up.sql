-- The notifier's own tables (prefix nt_), in its own database or beside other services'
-- tables in one PostgreSQL database. No other service reads or writes them.

-- One row per (message, recipient): what makes a redelivered event mail nobody twice, and
-- the queue of due sends that survives restarts.
CREATE TABLE nt_deliveries (
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
    CONSTRAINT nt_deliveries_once UNIQUE (conversation_id, message_seq, participant_id)
);
CREATE INDEX nt_deliveries_due ON nt_deliveries (next_attempt_at)
    WHERE status IN ('pending', 'retry', 'sending');

-- Addresses that must not be mailed any more (bounces), per application.
CREATE TABLE nt_suppressed (
    app_id TEXT NOT NULL,
    email TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (app_id, email)
);

-- Conversations deleted (ids only): their deliveries and events were erased, and a late
-- message of theirs is never mailed.
CREATE TABLE nt_deleted_conversations (
    conversation_id TEXT PRIMARY KEY,
    deleted_at TIMESTAMP NOT NULL
);

-- All-in-one only: how far conversation-api's outbox has been handled (recorded in the
-- same transaction as the deliveries of the events read).
CREATE TABLE nt_checkpoint (
    id INTEGER PRIMARY KEY,
    feed_position BIGINT NOT NULL
);

-- The notifier's own events (notification_sent, _failed, _deferred, _suppressed,
-- _muted), written with the delivery change they describe; see crates/db/src/outbox.rs.
CREATE TABLE nt_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    app_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    conversation_seq BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL,
    published_at TIMESTAMP,
    position BIGINT UNIQUE
);
CREATE INDEX nt_outbox_unsequenced ON nt_outbox (id) WHERE position IS NULL;
CREATE INDEX nt_outbox_unpublished ON nt_outbox (position) WHERE published_at IS NULL;
CREATE INDEX nt_outbox_published_at ON nt_outbox (published_at);

CREATE TABLE nt_outbox_lease (
    id INTEGER PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    last_position BIGINT NOT NULL
);
INSERT INTO nt_outbox_lease (id, holder, expires_at, last_position)
    VALUES (1, '', '1970-01-01 00:00:00', 0);
