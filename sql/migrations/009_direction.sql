-- Schema version 9: a child's own mail (issue 21).  A challenge is either a
-- sender who wrote to a protected child ('in', every challenge before) or
-- a protected child who tried to write to a new contact through the
-- authenticated submission service ('out': sender is the contact,
-- recipient the child, as an inbound challenge of the same pair, so one
-- approval allows both directions).  The guardian's email and page word
-- it by direction.  Idempotent.
ALTER TABLE challenges
    ADD COLUMN IF NOT EXISTS direction ENUM('in','out') NOT NULL DEFAULT 'in' AFTER spf_result;
INSERT IGNORE INTO schema_version (version) VALUES (9);
