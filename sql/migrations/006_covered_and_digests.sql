-- Schema version 6: a rule closes the pending challenges it decides
-- (lib/cover.c) and says which rule did (decided_rule: "RCPT SENDER ACTION",
-- RCPT "*" for a global rule), so the links of those challenges can say what
-- happened.  Idempotent.
ALTER TABLE challenges
    ADD COLUMN IF NOT EXISTS decided_rule VARCHAR(600) NULL AFTER decided_by;
INSERT IGNORE INTO schema_version (version) VALUES (6);
