DROP TABLE im_outbox_lease;
DROP TABLE im_outbox;
DROP TABLE im_notices;
DROP TABLE im_checkpoint;
DROP TABLE im_deleted_conversations;
DROP TABLE im_suppressions;
DROP TABLE im_bounces;
DROP TABLE im_inbound;
