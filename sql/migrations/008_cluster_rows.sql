-- Schema version 8: what must hold across the nodes of a MariaDB Galera
-- cluster, which replicates rows but not GET_LOCK (docs/scaling.md).
-- cap_counts: the hourly caps on new challenges, counted in the challenge's
-- own transaction by every guardlistd, so N daemons on N MX hosts share one
-- cap (two nodes counting one key at once conflict, and one writer retries).
-- notify_locks: which guardlist-notify plans, sends and records one
-- guardian's emails now (the hourly cap on emails), a row Galera certifies.
-- Idempotent.
CREATE TABLE IF NOT EXISTS cap_counts (
    kind ENUM('recipient','client') NOT NULL,
    cap_key VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,  -- protected key, or client key (an IPv4 address, an IPv6 /64)
    hour_start TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,                  -- the clock hour counted
    n INT UNSIGNED NOT NULL DEFAULT 0,                                        -- new challenges in it
    PRIMARY KEY (kind, cap_key, hour_start),
    KEY hour_start (hour_start)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
CREATE TABLE IF NOT EXISTS notify_locks (
    guardian VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    locked_by VARCHAR(128) NULL,              -- "server:port/connection id" of the notifier holding it
    locked_until TIMESTAMP NULL,              -- its lease: a crashed holder's lock ends then
    PRIMARY KEY (guardian),
    KEY locked_by (locked_by)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
INSERT IGNORE INTO schema_version (version) VALUES (8);
