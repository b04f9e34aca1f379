ALTER TABLE outbox ADD COLUMN published_at TIMESTAMP;
UPDATE outbox SET published_at = created_at
    WHERE position <= (SELECT published_position FROM outbox_lease WHERE id = 1);
CREATE INDEX outbox_unpublished ON outbox (position) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at ON outbox (published_at);
ALTER TABLE outbox_lease DROP COLUMN published_position;
