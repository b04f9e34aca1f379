ALTER TABLE applications DROP COLUMN mask_phone_numbers;
