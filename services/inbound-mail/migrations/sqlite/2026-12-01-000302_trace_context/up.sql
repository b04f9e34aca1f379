-- The W3C traceparent of the mail's intake, carried by inbound-mail's events.
ALTER TABLE im_outbox ADD COLUMN trace_context TEXT;
