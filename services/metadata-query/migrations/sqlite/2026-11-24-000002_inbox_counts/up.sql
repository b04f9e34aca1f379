-- Every inbox page reports the contact's conversation count and badge (and the count of
-- those matching its filter): a covering index answers them without reading the rows.
CREATE INDEX mq_inbox_counts ON mq_memberships (contact_id, active, muted, pinned, unread, archived_at);
