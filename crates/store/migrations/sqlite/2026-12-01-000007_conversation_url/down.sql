ALTER TABLE applications DROP COLUMN conversation_url;
