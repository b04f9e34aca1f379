DROP INDEX mq_inbox_counts;
