-- The tables tests/e2e/bench/post.sql writes, shaped like conversation-api's.
CREATE TABLE bench_conversations (
    id BIGINT PRIMARY KEY,
    version BIGINT NOT NULL DEFAULT 0,
    message_count BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMP NOT NULL DEFAULT now()
);
INSERT INTO bench_conversations (id) SELECT generate_series(1, 1000);
CREATE TABLE bench_messages (
    conversation_id BIGINT NOT NULL,
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
CREATE TABLE bench_outbox (
    id BIGSERIAL PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    app_id TEXT NOT NULL,
    conversation_id BIGINT NOT NULL,
    conversation_seq BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    payload BYTEA NOT NULL,
    created_at TIMESTAMP NOT NULL,
    published_at TIMESTAMP
);
