-- The notifier's, metadata-query's and inbound-mail's own databases on the compose stack's
-- PostgreSQL server (conversation-api's is POSTGRES_DB, `conversations`). Run by the
-- `databases` service of docker-compose.yml at every start; creates only what is missing.
-- The services create their tables themselves (migrations at start).
SELECT 'CREATE DATABASE notifier'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'notifier')\gexec
SELECT 'CREATE DATABASE metadata'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'metadata')\gexec
SELECT 'CREATE DATABASE inbound'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'inbound')\gexec
