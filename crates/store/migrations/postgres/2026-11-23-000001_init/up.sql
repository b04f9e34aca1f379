CREATE TABLE applications (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE api_keys (
    key_hash TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    prefix TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES applications (id),
    kind TEXT NOT NULL,
    subject TEXT,
    owner_email TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL,
    message_count BIGINT NOT NULL,
    pinned_message BIGINT
);
CREATE INDEX conversations_app_id ON conversations (app_id);

CREATE TABLE participants (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    email TEXT NOT NULL,
    display_name TEXT,
    external_id TEXT,
    joined_at TIMESTAMP NOT NULL,
    left_at TIMESTAMP,
    last_read_seq BIGINT NOT NULL,
    muted BOOLEAN NOT NULL,
    pinned BOOLEAN NOT NULL,
    archived_at TIMESTAMP,
    last_opened_at TIMESTAMP,
    CONSTRAINT participants_conversation_email UNIQUE (conversation_id, email)
);
CREATE INDEX participants_email ON participants (email);

CREATE TABLE messages (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    sender_id TEXT NOT NULL,
    sender_email TEXT NOT NULL,
    sender_name TEXT,
    body TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    recipients TEXT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
CREATE INDEX messages_source ON messages (conversation_id, source, seq);

CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    app_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    conversation_seq BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    payload BYTEA NOT NULL,
    created_at TIMESTAMP NOT NULL,
    published_at TIMESTAMP
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE outbox_lease (
    id INTEGER PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
INSERT INTO outbox_lease (id, holder, expires_at) VALUES (1, '', '1970-01-01 00:00:00');

CREATE TABLE idempotency_keys (
    app_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    location TEXT,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (app_id, idem_key)
);
