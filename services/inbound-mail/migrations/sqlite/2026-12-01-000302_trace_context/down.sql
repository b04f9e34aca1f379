ALTER TABLE im_outbox DROP COLUMN trace_context;
