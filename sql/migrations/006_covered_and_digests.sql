-- Schema version 6: a rule closes the pending challenges it decides
-- (lib/cover.c) and says which rule did (decided_rule: "RCPT SENDER ACTION",
-- RCPT "*" for a global rule), so the links of those challenges can say what
-- happened.  Idempotent.
ALTER TABLE challenges
    ADD COLUMN IF NOT EXISTS decided_rule VARCHAR(600) NULL AFTER decided_by;
-- A digest email has a link of its own (besides one per sender): its
-- SHA-256 is on every notifications row of that email, so the page behind it
-- lists them and decides each or all at once.
ALTER TABLE notifications
    ADD COLUMN IF NOT EXISTS digest_sha256 BINARY(32) NULL AFTER token_expires_at,
    ADD KEY IF NOT EXISTS digest (digest_sha256);
INSERT IGNORE INTO schema_version (version) VALUES (6);
