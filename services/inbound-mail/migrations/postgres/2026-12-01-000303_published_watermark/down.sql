ALTER TABLE im_outbox ADD COLUMN published_at TIMESTAMP;
UPDATE im_outbox SET published_at = created_at
    WHERE position <= (SELECT published_position FROM im_outbox_lease WHERE id = 1);
CREATE INDEX im_outbox_unpublished ON im_outbox (position) WHERE published_at IS NULL;
CREATE INDEX im_outbox_published_at ON im_outbox (published_at);
ALTER TABLE im_outbox_lease DROP COLUMN published_position;
