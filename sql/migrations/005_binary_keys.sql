-- Schema version 5: every column that holds an address key compares bytes
-- (utf8mb4_bin).  guardlist folds keys once, in C, as Postfix does (ICU full
-- case folding); utf8mb4_general_ci also took 'zoë@' for 'zoe@' and 'kiß@' for
-- 'kis@', so one family's protection, rules or approval emails could act on
-- another's.  Rows are kept as they are: nothing is merged or dropped, and
-- `guardlist db migrate` reports the rows that matched each other only
-- through the old comparison.
ALTER TABLE protected_users
    MODIFY recipient VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
ALTER TABLE whitelist
    MODIFY sender VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
ALTER TABLE guardians
    MODIFY recipient VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY email VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
ALTER TABLE sender_rules
    MODIFY recipient VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY sender VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
ALTER TABLE challenges
    MODIFY sender VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY recipient VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY protected_key VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
ALTER TABLE notifications
    MODIFY guardian VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
INSERT IGNORE INTO schema_version (version) VALUES (5);
