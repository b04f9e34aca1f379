-- Feed positions in commit order, handed out by the relay under the lease (see
-- crates/db/src/outbox.rs). Rows that exist already are all committed: they keep their id
-- as position, so positions recorded by consumers before this migration stay valid.
ALTER TABLE outbox ADD COLUMN position BIGINT;
UPDATE outbox SET position = id;
ALTER TABLE outbox_lease ADD COLUMN last_position BIGINT NOT NULL DEFAULT 0;
UPDATE outbox_lease SET last_position = COALESCE((SELECT MAX(id) FROM outbox), 0);
CREATE UNIQUE INDEX outbox_position ON outbox (position);
CREATE INDEX outbox_unsequenced ON outbox (id) WHERE position IS NULL;
DROP INDEX outbox_unpublished;
CREATE INDEX outbox_unpublished ON outbox (position) WHERE published_at IS NULL;
-- Pruning by age.
CREATE INDEX outbox_published_at ON outbox (published_at);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
