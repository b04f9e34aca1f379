-- inbound-mail's own tables (prefix im_), in its own database or beside other services'
-- tables in one PostgreSQL database. No other service reads or writes them.

-- The incoming log: every mail received, with what happened to it. The raw message is
-- kept for INBOUND_RETENTION_DAYS (then set to NULL) so a mail can be inspected and
-- replayed after a fix.
CREATE TABLE im_inbound (
    id TEXT PRIMARY KEY,
    app_id TEXT,
    received_at TIMESTAMP NOT NULL,
    sender TEXT NOT NULL,
    reply_address TEXT,
    message_id TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    subject TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    conversation_id TEXT,
    participant_id TEXT,
    message_seq BIGINT,
    -- JSON: envelope_recipient, reply_text, elided_text, rule, confidence, attachments.
    details TEXT NOT NULL,
    raw_message BYTEA
);
CREATE INDEX im_inbound_dedupe ON im_inbound (dedupe_key);
CREATE INDEX im_inbound_app ON im_inbound (app_id, received_at, id);
CREATE INDEX im_inbound_loop ON im_inbound (conversation_id, sender, received_at);
CREATE INDEX im_inbound_retention ON im_inbound (received_at) WHERE raw_message IS NOT NULL;

-- Addresses that bounced: permanent failures suppress at once, transient ones once
-- several arrive within the window.
CREATE TABLE im_bounces (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    email TEXT NOT NULL,
    permanent BOOLEAN NOT NULL,
    status TEXT,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX im_bounces_address ON im_bounces (app_id, email, received_at);

-- The suppression list the application reads and lifts; the notifier learns of every
-- change through events (address_suppressed / address_unsuppressed).
CREATE TABLE im_suppressions (
    app_id TEXT NOT NULL,
    email TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (app_id, email)
);

-- Rejection notices sent, per sender address and day (UTC, YYYY-MM-DD): at most one a
-- day, so a misconfigured client or a loop cannot make us mail someone repeatedly.
CREATE TABLE im_notices (
    app_id TEXT NOT NULL,
    email TEXT NOT NULL,
    day TEXT NOT NULL,
    PRIMARY KEY (app_id, email, day)
);

-- Conversations deleted (ids only): their mails were erased from the log, and a mail of
-- theirs handled while the deletion arrived is recorded without its content.
CREATE TABLE im_deleted_conversations (
    conversation_id TEXT PRIMARY KEY,
    deleted_at TIMESTAMP NOT NULL
);

-- All-in-one only: how far conversation-api's outbox has been read for deletions.
CREATE TABLE im_checkpoint (
    id INTEGER PRIMARY KEY,
    feed_position BIGINT NOT NULL
);

-- inbound-mail's events, written with the change they describe; see
-- crates/db/src/outbox.rs.
CREATE TABLE im_outbox (
    id BIGSERIAL PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    app_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    conversation_seq BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    payload BYTEA NOT NULL,
    created_at TIMESTAMP NOT NULL,
    published_at TIMESTAMP,
    position BIGINT UNIQUE
);
CREATE INDEX im_outbox_unsequenced ON im_outbox (id) WHERE position IS NULL;
CREATE INDEX im_outbox_unpublished ON im_outbox (position) WHERE published_at IS NULL;
CREATE INDEX im_outbox_published_at ON im_outbox (published_at);

CREATE TABLE im_outbox_lease (
    id INTEGER PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    last_position BIGINT NOT NULL
);
INSERT INTO im_outbox_lease (id, holder, expires_at, last_position)
    VALUES (1, '', '1970-01-01 00:00:00', 0);
