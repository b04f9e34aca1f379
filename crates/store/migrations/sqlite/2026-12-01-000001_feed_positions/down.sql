DROP INDEX idempotency_keys_created_at;
DROP INDEX outbox_published_at;
DROP INDEX outbox_unpublished;
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
DROP INDEX outbox_unsequenced;
DROP INDEX outbox_position;
ALTER TABLE outbox_lease DROP COLUMN last_position;
ALTER TABLE outbox DROP COLUMN position;
