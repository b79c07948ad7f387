-- Schema version 4: indexes for the hourly caps on new challenges per
-- protected recipient and per client address.  Idempotent.
ALTER TABLE challenges
    ADD KEY IF NOT EXISTS protected_first (protected_key, first_seen),
    ADD KEY IF NOT EXISTS client_first (client_address, first_seen);
INSERT IGNORE INTO schema_version (version) VALUES (4);
