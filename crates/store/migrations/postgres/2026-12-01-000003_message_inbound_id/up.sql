-- A message that came by email names the inbound-mail log entry it was posted from, so
-- an integrator can offer "show trimmed text" (GET /api/v1/inbound/{id}).
ALTER TABLE messages ADD COLUMN inbound_id TEXT;
