ALTER TABLE nt_outbox ADD COLUMN published_at TIMESTAMP;
UPDATE nt_outbox SET published_at = created_at
    WHERE position <= (SELECT published_position FROM nt_outbox_lease WHERE id = 1);
CREATE INDEX nt_outbox_unpublished ON nt_outbox (position) WHERE published_at IS NULL;
CREATE INDEX nt_outbox_published_at ON nt_outbox (published_at);
ALTER TABLE nt_outbox_lease DROP COLUMN published_position;
