-- Schema version 10: SASL logins mapped to a protected child (issue 21,
-- `guardlist account`).  A child whose submission login is not its own
-- address ("kid", "kid@mail.family.test") is held to the contacts of the
-- address its login maps to.  login is stored as guardlist compares it
-- (ASCII letters in lower case); address is a protected address.  Changes
-- bump rule_generation like the rule tables, so guardlistd sees them.
-- Idempotent.
CREATE TABLE IF NOT EXISTS accounts (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    login VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    address VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    created_by VARCHAR(255) NULL,
    PRIMARY KEY (id),
    UNIQUE KEY login (login),
    KEY address (address)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
CREATE TRIGGER IF NOT EXISTS accounts_ai AFTER INSERT ON accounts
    FOR EACH ROW UPDATE rule_generation SET generation = generation + 1 WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS accounts_au AFTER UPDATE ON accounts
    FOR EACH ROW UPDATE rule_generation SET generation = generation + 1, destructive = destructive + 1
    WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS accounts_ad AFTER DELETE ON accounts
    FOR EACH ROW UPDATE rule_generation SET generation = generation + 1, destructive = destructive + 1
    WHERE id = 1;
INSERT IGNORE INTO schema_version (version) VALUES (10);
