ALTER TABLE nt_deliveries DROP COLUMN trace_context;
ALTER TABLE nt_outbox DROP COLUMN trace_context;
