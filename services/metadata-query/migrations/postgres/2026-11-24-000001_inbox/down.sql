DROP TABLE mq_checkpoint;
DROP TABLE mq_messages;
DROP TABLE mq_memberships;
DROP TABLE mq_conversations;
DROP TABLE mq_contacts;
DROP TABLE mq_unread_sources;
DROP TABLE mq_api_keys;
