-- What has been published is one watermark in the lease row instead of a timestamp on
-- every row (see crates/db/src/outbox.rs): the relay publishes in position order and the
-- broker confirms a prefix. Marking rows one by one rewrote each of them and kept two
-- more indexes.
ALTER TABLE outbox_lease ADD COLUMN published_position BIGINT NOT NULL DEFAULT 0;
UPDATE outbox_lease SET published_position = COALESCE(
    (SELECT MIN(position) - 1 FROM outbox WHERE published_at IS NULL AND position IS NOT NULL),
    last_position);
DROP INDEX outbox_unpublished;
DROP INDEX outbox_published_at;
ALTER TABLE outbox DROP COLUMN published_at;
