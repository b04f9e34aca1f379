DELETE FROM mq_checkpoint WHERE id = 2;
DROP TABLE mq_deliveries;
