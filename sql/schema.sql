-- guardlist schema, version 11 (MariaDB 10.3+; also on a MariaDB Galera cluster).
-- Idempotent: safe to load again.  The article's tables `protected_users` and
-- `whitelist` keep their columns first and in order; the columns guardlist adds
-- are INVISIBLE, so the article's INSERT statements (with or without a column
-- list) and its Postfix mysql: lookup files work unchanged.
-- Every change to a rule table bumps rule_generation.generation through a
-- trigger, so guardlistd sees raw SQL edits too.  TRUNCATE fires no trigger;
-- guardlistd notices it by the table's AUTO_INCREMENT going down (and reloads
-- everything every full_reload_interval regardless).
-- Columns that hold address keys are utf8mb4_bin: keys are folded once, in C,
-- as Postfix folds them, and compared byte for byte everywhere (version 5).

SET NAMES utf8mb4;

CREATE TABLE IF NOT EXISTS protected_users (
    recipient VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    class VARCHAR(64) NOT NULL DEFAULT 'whitelist',
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT INVISIBLE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP INVISIBLE,
    PRIMARY KEY (id),
    UNIQUE KEY recipient (recipient)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS whitelist (
    sender VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    action VARCHAR(255) NOT NULL,
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT INVISIBLE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP INVISIBLE,
    PRIMARY KEY (id),
    UNIQUE KEY sender (sender)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS guardians (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    recipient VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,          -- a protected_users.recipient key
    email VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    UNIQUE KEY recipient_email (recipient, email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS sender_rules (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    recipient VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,          -- recipient key: address, user@ or domain
    sender VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,             -- sender key: address, user@, domain or <>
    action VARCHAR(255) NOT NULL,             -- access(5) action: OK, REJECT [text], ...
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    created_by VARCHAR(255) NULL,
    PRIMARY KEY (id),
    UNIQUE KEY recipient_sender (recipient, sender),
    KEY sender (sender)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- One open challenge per (sender, recipient): is_open is 1 while pending and
-- NULL once closed, and NULLs never collide in the unique key.
CREATE TABLE IF NOT EXISTS challenges (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    token_sha256 BINARY(32) NULL,
    sender VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,             -- normalised, without extension
    recipient VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,          -- normalised, without extension
    protected_key VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,      -- the protected_users key that matched
    status ENUM('pending','approved','denied','expired') NOT NULL DEFAULT 'pending',
    is_open TINYINT NULL DEFAULT 1,
    client_address VARCHAR(64) NULL,
    client_name VARCHAR(255) NULL,
    spf_result VARCHAR(16) NULL,              -- 'pass', 'none', 'neutral'; NULL: not checked (version 7)
    direction ENUM('in','out') NOT NULL DEFAULT 'in',  -- 'out': the child asked to write to sender (version 9)
    first_seen TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_seen TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    attempts INT UNSIGNED NOT NULL DEFAULT 1,
    notify_state ENUM('new','claimed','sent','failed','digest') NOT NULL DEFAULT 'new',
    notify_claimed_until TIMESTAMP NULL,
    notify_attempts INT UNSIGNED NOT NULL DEFAULT 0,
    notify_next_at TIMESTAMP NULL,
    notify_error VARCHAR(255) NULL,
    notified_at TIMESTAMP NULL,
    token_expires_at TIMESTAMP NULL,
    decided_at TIMESTAMP NULL,
    decided_by VARCHAR(255) NULL,
    decided_rule VARCHAR(600) NULL,           -- "RCPT SENDER ACTION" of the rule that closed it for another decision (version 6)
    PRIMARY KEY (id),
    UNIQUE KEY open_pair (sender, recipient, is_open),
    UNIQUE KEY token (token_sha256),
    KEY status_notify (status, notify_state, notify_next_at),
    KEY recipient (recipient),
    KEY first_seen (first_seen),              -- windows of guardlist stats (version 11)
    KEY decided_at (decided_at)               -- (version 11)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- Approval emails sent: one row per (challenge, guardian), so a retry never
-- mails a guardian twice, and the hourly cap per guardian can be counted.
-- Each guardian's link has its own token (only its SHA-256 is here), so a
-- later email to another guardian never invalidates a link already sent.
-- Added in schema version 2.
CREATE TABLE IF NOT EXISTS notifications (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    challenge_id BIGINT UNSIGNED NOT NULL,
    guardian VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    kind ENUM('single','digest') NOT NULL,
    digest_of INT UNSIGNED NOT NULL DEFAULT 1,   -- challenges in that email
    message_id VARCHAR(255) NOT NULL,
    sent_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    token_sha256 BINARY(32) NULL,               -- this guardian's own approval link
    token_expires_at TIMESTAMP NULL,
    digest_sha256 BINARY(32) NULL,              -- the digest's own link (decide each or all), version 6
    PRIMARY KEY (id),
    UNIQUE KEY challenge_guardian (challenge_id, guardian),
    KEY digest (digest_sha256),
    UNIQUE KEY token (token_sha256),
    KEY guardian_sent (guardian, sent_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS audit_log (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    actor VARCHAR(255) NOT NULL,
    action VARCHAR(64) NOT NULL,
    detail VARCHAR(1024) NOT NULL,
    PRIMARY KEY (id),
    KEY at (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- The hourly caps on new challenges, counted in each challenge's own
-- transaction by every guardlistd (so N daemons share one cap: two nodes
-- counting one key at once conflict in Galera and one writer retries); a
-- row per key and clock hour, purged by `guardlist expire` (version 8).
CREATE TABLE IF NOT EXISTS cap_counts (
    kind ENUM('recipient','client') NOT NULL,
    cap_key VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,  -- protected key, or client key (an IPv4 address, an IPv6 /64)
    hour_start TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,                  -- the clock hour counted
    n INT UNSIGNED NOT NULL DEFAULT 0,                                        -- new challenges in it
    PRIMARY KEY (kind, cap_key, hour_start),
    KEY hour_start (hour_start)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- Which guardlist-notify plans, sends and records one guardian's emails now
-- (so two notifiers never both spend the guardian's hourly cap): a row that
-- Galera certifies across nodes, where GET_LOCK is only the node's (version 8).
CREATE TABLE IF NOT EXISTS notify_locks (
    guardian VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    locked_by VARCHAR(128) NULL,              -- "server:port/connection id" of the notifier holding it
    locked_until TIMESTAMP NULL,              -- its lease: a crashed holder's lock ends then
    PRIMARY KEY (guardian),
    KEY locked_by (locked_by)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- SASL logins an admin maps to a protected child (`guardlist account`): a
-- child whose submission login is not its address is held to the contacts
-- of ADDRESS.  login as compared (ASCII letters in lower case) (version 10).
CREATE TABLE IF NOT EXISTS accounts (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    login VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    address VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,   -- a protected address
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    created_by VARCHAR(255) NULL,
    PRIMARY KEY (id),
    UNIQUE KEY login (login),
    KEY address (address)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS schema_version (
    version INT UNSIGNED NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (version)
) ENGINE=InnoDB;

-- generation counts every change the daemon must see; destructive the
-- updates and deletes among them; closes the challenges that closed.  When
-- only inserts and closes happened, guardlistd adds the new rows (by id) to
-- the rules it holds instead of reading every table again (version 4).
CREATE TABLE IF NOT EXISTS rule_generation (
    id TINYINT UNSIGNED NOT NULL,
    generation BIGINT UNSIGNED NOT NULL,
    destructive BIGINT UNSIGNED NOT NULL DEFAULT 0,
    closes BIGINT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (id)
) ENGINE=InnoDB;

INSERT IGNORE INTO rule_generation (id, generation) VALUES (1, 1);
INSERT IGNORE INTO schema_version (version) VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9), (10), (11);

-- Change detection.  One statement per trigger, so no DELIMITER is needed.
CREATE TRIGGER IF NOT EXISTS protected_users_ai AFTER INSERT ON protected_users
    FOR EACH ROW UPDATE rule_generation SET generation = generation + 1 WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS protected_users_au AFTER UPDATE ON protected_users
    FOR EACH ROW UPDATE rule_generation SET generation = generation + 1, destructive = destructive + 1
    WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS protected_users_ad AFTER DELETE ON protected_users
    FOR EACH ROW UPDATE rule_generation SET generation = generation + 1, destructive = destructive + 1
    WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS whitelist_ai AFTER INSERT ON whitelist
    FOR EACH ROW UPDATE rule_generation SET generation = generation + 1 WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS whitelist_au AFTER UPDATE ON whitelist
    FOR EACH ROW UPDATE rule_generation SET generation = generation + 1, destructive = destructive + 1
    WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS whitelist_ad AFTER DELETE ON whitelist
    FOR EACH ROW UPDATE rule_generation SET generation = generation + 1, destructive = destructive + 1
    WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS sender_rules_ai AFTER INSERT ON sender_rules
    FOR EACH ROW UPDATE rule_generation SET generation = generation + 1 WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS sender_rules_au AFTER UPDATE ON sender_rules
    FOR EACH ROW UPDATE rule_generation SET generation = generation + 1, destructive = destructive + 1
    WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS sender_rules_ad AFTER DELETE ON sender_rules
    FOR EACH ROW UPDATE rule_generation SET generation = generation + 1, destructive = destructive + 1
    WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS accounts_ai AFTER INSERT ON accounts
    FOR EACH ROW UPDATE rule_generation SET generation = generation + 1 WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS accounts_au AFTER UPDATE ON accounts
    FOR EACH ROW UPDATE rule_generation SET generation = generation + 1, destructive = destructive + 1
    WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS accounts_ad AFTER DELETE ON accounts
    FOR EACH ROW UPDATE rule_generation SET generation = generation + 1, destructive = destructive + 1
    WHERE id = 1;
-- Challenges matter to the daemon only when they close (denied/expired pairs
-- are refused) or stop being closed; new, refreshed and approved challenges
-- do not bump.
CREATE TRIGGER IF NOT EXISTS challenges_ai AFTER INSERT ON challenges
    FOR EACH ROW UPDATE rule_generation SET generation = generation + 1, closes = closes + 1
    WHERE id = 1 AND NEW.status IN ('denied', 'expired');
CREATE TRIGGER IF NOT EXISTS challenges_au AFTER UPDATE ON challenges
    FOR EACH ROW UPDATE rule_generation SET generation = generation + 1,
    closes = closes + (NEW.status IN ('denied', 'expired')),
    destructive = destructive + (OLD.status IN ('denied', 'expired'))
    WHERE id = 1 AND NEW.status <> OLD.status
    AND (NEW.status IN ('denied', 'expired') OR OLD.status IN ('denied', 'expired'));
CREATE TRIGGER IF NOT EXISTS challenges_ad AFTER DELETE ON challenges
    FOR EACH ROW UPDATE rule_generation SET generation = generation + 1, destructive = destructive + 1
    WHERE id = 1 AND OLD.status IN ('denied', 'expired');
