-- Schema version 11: `guardlist stats` and the web overview page (issue
-- 22) count challenges by when they arrived (first_seen: the open ones, the
-- chart's "created" bars) and by when they were decided (decided_at: the
-- closed ones, the median time to decide, the "approved" bars), over the
-- last 1, 7 and 30 days.  These two keys keep those reads to the rows in
-- the window instead of the whole table.  Idempotent.
ALTER TABLE challenges
    ADD KEY IF NOT EXISTS first_seen (first_seen),
    ADD KEY IF NOT EXISTS decided_at (decided_at);
INSERT IGNORE INTO schema_version (version) VALUES (11);
