DROP TABLE nt_outbox_lease;
DROP TABLE nt_outbox;
DROP TABLE nt_checkpoint;
DROP TABLE nt_deleted_conversations;
DROP TABLE nt_suppressed;
DROP TABLE nt_deliveries;
