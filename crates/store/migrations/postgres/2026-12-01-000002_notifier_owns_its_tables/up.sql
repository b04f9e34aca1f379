-- The notifier keeps its deliveries and suppression list in its own tables (nt_…, in its
-- own migrations); conversation-api no longer has them. See README, "Upgrading".
DROP TABLE notification_deliveries;
DROP TABLE suppressed_addresses;
