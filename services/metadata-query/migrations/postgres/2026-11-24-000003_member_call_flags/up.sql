-- The conversation's call flags, copied onto each membership whenever the conversation's
-- activity is written, so that every inbox filter reads the contact's memberships alone.
ALTER TABLE mq_memberships ADD COLUMN call_ongoing BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE mq_memberships ADD COLUMN last_missed_call_seq BIGINT NOT NULL DEFAULT 0;
UPDATE mq_memberships SET call_ongoing = c.call_ongoing,
    last_missed_call_seq = c.last_missed_call_seq
FROM mq_conversations c
WHERE c.id = mq_memberships.conversation_id
  AND (c.call_ongoing OR c.last_missed_call_seq > 0);

-- The inbox order, covering every filtered column: a page is found by walking the
-- contact's entries in order within the index alone (even when few or none match), and
-- the counts (conversations, badge, matches) are read from it too.
DROP INDEX mq_inbox_counts;
DROP INDEX mq_inbox_recent;
CREATE INDEX mq_inbox_recent ON mq_memberships (contact_id, last_activity DESC, conversation_id DESC)
    INCLUDE (active, muted, pinned, unread, archived_at, call_ongoing, last_missed_call_seq, read_seq);
