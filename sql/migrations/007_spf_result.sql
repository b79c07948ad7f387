-- Schema version 7: the SPF verdict guardlistd had for the challenge's
-- sender and client when it recorded it (issue 17): 'pass', 'none',
-- 'neutral', or NULL when nothing was checked (SPF off, a trusted
-- forwarder, an older daemon).  The guardian's email and page show it in a
-- plain word.  A fail, softfail, permerror or temperror never makes a
-- challenge.  Idempotent.
ALTER TABLE challenges
    ADD COLUMN IF NOT EXISTS spf_result VARCHAR(16) NULL AFTER client_name;
INSERT IGNORE INTO schema_version (version) VALUES (7);
