-- The trace each event and each mail belongs to (W3C traceparent; NULL when tracing is
-- off), so the SMTP send and the notifier's own events continue the posting request's trace.
ALTER TABLE nt_outbox ADD COLUMN trace_context TEXT;
ALTER TABLE nt_deliveries ADD COLUMN trace_context TEXT;
