-- Schema version 4: rule_generation also counts destructive changes (updates,
-- deletes) and closed challenges, so guardlistd can add inserted rows to the
-- rules it holds instead of reloading every table.  The triggers that bump
-- the new counters are dropped here and created again, in their version 4
-- form, by schema.sql, which `guardlist db migrate` runs after the migrations.
ALTER TABLE rule_generation
    ADD COLUMN IF NOT EXISTS destructive BIGINT UNSIGNED NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS closes BIGINT UNSIGNED NOT NULL DEFAULT 0;
DROP TRIGGER IF EXISTS protected_users_au;
DROP TRIGGER IF EXISTS protected_users_ad;
DROP TRIGGER IF EXISTS whitelist_au;
DROP TRIGGER IF EXISTS whitelist_ad;
DROP TRIGGER IF EXISTS sender_rules_au;
DROP TRIGGER IF EXISTS sender_rules_ad;
DROP TRIGGER IF EXISTS challenges_ai;
DROP TRIGGER IF EXISTS challenges_au;
DROP TRIGGER IF EXISTS challenges_ad;
INSERT IGNORE INTO schema_version (version) VALUES (4);
