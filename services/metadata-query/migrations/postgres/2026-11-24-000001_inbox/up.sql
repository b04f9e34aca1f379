-- metadata-query's own tables: the inbox projection, built only from events.

-- API keys announced by conversation-api (application_key_issued): hashes only.
CREATE TABLE mq_api_keys (
    key_hash TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    app_name TEXT NOT NULL
);

-- Integrator sources whose messages count as unread (api and email always do).
CREATE TABLE mq_unread_sources (
    app_id TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (app_id, source)
);

-- A person within one application; id = first 32 hex digits of SHA-256(app id, email),
-- the same on every replica.
CREATE TABLE mq_contacts (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    email TEXT NOT NULL,
    display_name TEXT,
    external_id TEXT,
    CONSTRAINT mq_contacts_app_email UNIQUE (app_id, email)
);
CREATE INDEX mq_contacts_external ON mq_contacts (app_id, external_id);

CREATE TABLE mq_conversations (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT,
    info_seq BIGINT NOT NULL,
    last_activity TIMESTAMP NOT NULL,
    last_message_seq BIGINT NOT NULL,
    last_message_sender TEXT,
    last_message_sender_contact TEXT,
    last_message_preview TEXT,
    last_message_source TEXT,
    last_message_at TIMESTAMP,
    last_call_seq BIGINT NOT NULL,
    call_ongoing BOOLEAN NOT NULL,
    last_missed_call_seq BIGINT NOT NULL,
    deleted_seq BIGINT NOT NULL
);

-- One row per (conversation, contact): the participant list and the inbox entry.
CREATE TABLE mq_memberships (
    conversation_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    email TEXT NOT NULL,
    display_name TEXT,
    external_id TEXT,
    state_seq BIGINT NOT NULL,
    active BOOLEAN NOT NULL,
    muted BOOLEAN NOT NULL,
    pinned BOOLEAN NOT NULL,
    archived_at TIMESTAMP,
    last_opened_at TIMESTAMP,
    read_seq BIGINT NOT NULL,
    unread BIGINT NOT NULL,
    last_activity TIMESTAMP NOT NULL,
    PRIMARY KEY (conversation_id, contact_id)
);
CREATE INDEX mq_inbox_recent ON mq_memberships (contact_id, last_activity DESC, conversation_id DESC);
CREATE INDEX mq_inbox_pinned ON mq_memberships (contact_id, pinned DESC, last_activity DESC, conversation_id DESC);

CREATE TABLE mq_messages (
    conversation_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    app_id TEXT NOT NULL,
    sender_contact TEXT NOT NULL,
    sender_name TEXT,
    source TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
CREATE INDEX mq_messages_source ON mq_messages (conversation_id, source, seq);

-- How far the replay feed has been applied (catch-up of a new replica).
CREATE TABLE mq_checkpoint (
    id INTEGER PRIMARY KEY,
    feed_position BIGINT NOT NULL
);
INSERT INTO mq_checkpoint (id, feed_position) VALUES (1, 0);
