DROP INDEX mq_inbox_recent;
CREATE INDEX mq_inbox_recent ON mq_memberships (contact_id, last_activity DESC, conversation_id DESC);
CREATE INDEX mq_inbox_counts ON mq_memberships (contact_id, active, muted, pinned, unread, archived_at);
ALTER TABLE mq_memberships DROP COLUMN last_missed_call_seq;
ALTER TABLE mq_memberships DROP COLUMN call_ongoing;
