-- Several keys per application, told apart by their prefix (the key's first characters,
-- unique within the application) and an optional label; when each was last used.
ALTER TABLE api_keys ADD COLUMN label TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN last_used_at TIMESTAMP;
CREATE UNIQUE INDEX api_keys_app_prefix ON api_keys (app_id, prefix);
