-- Schema version 3: every guardian's link has its own token, kept with its
-- notification.  Idempotent; fresh installs get these columns from schema.sql.
ALTER TABLE notifications
    ADD COLUMN IF NOT EXISTS token_sha256 BINARY(32) NULL AFTER sent_at,
    ADD COLUMN IF NOT EXISTS token_expires_at TIMESTAMP NULL AFTER token_sha256,
    ADD UNIQUE KEY IF NOT EXISTS token (token_sha256);
INSERT IGNORE INTO schema_version (version) VALUES (3);
