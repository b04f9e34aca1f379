DROP TABLE mq_secret;
