-- The W3C traceparent of the request that wrote the event, so the relay and every
-- consumer continue its trace (NULL when tracing is off).
ALTER TABLE outbox ADD COLUMN trace_context TEXT;
