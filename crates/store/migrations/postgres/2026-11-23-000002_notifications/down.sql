DROP TABLE suppressed_addresses;
DROP TABLE notification_deliveries;
