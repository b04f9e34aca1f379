DROP TABLE idempotency_keys;
DROP TABLE outbox_lease;
DROP TABLE outbox;
DROP TABLE messages;
DROP TABLE participants;
DROP TABLE conversations;
DROP TABLE api_keys;
DROP TABLE applications;
