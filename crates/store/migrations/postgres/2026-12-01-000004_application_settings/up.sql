-- What an application decides for itself. mask_phone_numbers: replies by email have
-- phone numbers replaced before they are posted (marketplaces that keep deals on
-- their platform turn it on).
ALTER TABLE applications ADD COLUMN mask_phone_numbers BOOLEAN NOT NULL DEFAULT FALSE;
