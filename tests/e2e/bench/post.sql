-- pgbench script: what one post writes to PostgreSQL in conversation-api, in one
-- transaction: the conversation's version and message count move, the message row and its
-- outbox event (about the size of a real `message_posted`) are inserted. The benchmark
-- (`bench`, tests/e2e/src/bin/bench) creates the tables and runs
--   pgbench -n -M prepared -f tests/e2e/bench/post.sql -c 8 -j 2 -T <seconds> <database>
-- for the PostgreSQL ceiling it compares the end-to-end rate with. (No colon may appear
-- in a literal: pgbench reads `:name` as a variable.)
\set c random(1, 1000)
BEGIN;
UPDATE bench_conversations SET version = version + 1, message_count = message_count + 1, updated_at = now() WHERE id = :c RETURNING message_count AS seq \gset
INSERT INTO bench_messages (conversation_id, seq, sender_id, sender_email, sender_name, body, source, created_at, recipients) VALUES (:c, :seq, 'participant-1', 'seller@example.com', 'Seller', repeat('x', 120), 'api', now(), json_build_array(json_build_object('participant_id', 'participant-2', 'email', 'buyer@example.com', 'muted', false))::text);
INSERT INTO bench_outbox (event_id, app_id, conversation_id, conversation_seq, event_type, payload, created_at) VALUES (gen_random_uuid()::text, 'app', :c, :seq, 'message_posted', decode(repeat('ab', 600), 'hex'), now());
COMMIT;
