-- Where the application shows a conversation (a URL template with {conversation_id});
-- notifications link there. NULL: our own page.
ALTER TABLE applications ADD COLUMN conversation_url TEXT;
