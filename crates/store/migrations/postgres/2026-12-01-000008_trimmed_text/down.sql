ALTER TABLE messages DROP COLUMN trimmed_text;
