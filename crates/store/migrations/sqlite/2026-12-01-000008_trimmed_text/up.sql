-- What reply extraction cut from a message that came by email (quoted history, signature),
-- with participants' addresses masked; shown on request beside the message. NULL: nothing
-- was cut, or the message did not come by email.
ALTER TABLE messages ADD COLUMN trimmed_text TEXT;
