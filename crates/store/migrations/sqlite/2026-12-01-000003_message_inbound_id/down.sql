ALTER TABLE messages DROP COLUMN inbound_id;
