DROP TABLE im_outbox_lease;
DROP TABLE im_outbox;
DROP TABLE im_suppressions;
DROP TABLE im_bounces;
DROP TABLE im_inbound;
