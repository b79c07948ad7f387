-- Least-privilege accounts, one per program.  `guardlist db init` runs this
-- (with the database name in place of `guardlist`) and sets each password
-- from a generated secret file; by hand, also run
--   ALTER USER 'guardlist_daemon'@'localhost' IDENTIFIED BY '...';  (and so on)

-- guardlistd: reads the rule tables, records challenges.
CREATE USER IF NOT EXISTS 'guardlist_daemon'@'localhost';
GRANT SELECT ON guardlist.protected_users TO 'guardlist_daemon'@'localhost';
GRANT SELECT ON guardlist.whitelist TO 'guardlist_daemon'@'localhost';
GRANT SELECT ON guardlist.sender_rules TO 'guardlist_daemon'@'localhost';
GRANT SELECT ON guardlist.rule_generation TO 'guardlist_daemon'@'localhost';
-- Logins mapped to a protected child (version 10).
GRANT SELECT ON guardlist.accounts TO 'guardlist_daemon'@'localhost';
-- INSERT ... ON DUPLICATE KEY UPDATE needs SELECT and UPDATE on the inserted columns too.
-- spf_result (schema 7): written only with [policy] spf = on; direction
-- (schema 9): only for a child's own mail, with [policy] outbound = on.
GRANT SELECT, INSERT (sender, recipient, protected_key, client_address, client_name, spf_result, direction),
      UPDATE (sender, recipient, protected_key, attempts, last_seen, client_address, client_name, spf_result,
              direction)
      ON guardlist.challenges TO 'guardlist_daemon'@'localhost';
-- The hourly caps, counted with each new challenge (version 8).
GRANT SELECT, INSERT, UPDATE ON guardlist.cap_counts TO 'guardlist_daemon'@'localhost';

-- guardlist-notify: reads guardians, claims and marks challenges.
CREATE USER IF NOT EXISTS 'guardlist_notifier'@'localhost';
GRANT SELECT ON guardlist.guardians TO 'guardlist_notifier'@'localhost';
GRANT SELECT ON guardlist.protected_users TO 'guardlist_notifier'@'localhost';
GRANT SELECT, UPDATE (token_sha256, token_expires_at, notify_state, notify_claimed_until,
      notify_attempts, notify_next_at, notify_error, notified_at)
      ON guardlist.challenges TO 'guardlist_notifier'@'localhost';
GRANT SELECT, INSERT ON guardlist.notifications TO 'guardlist_notifier'@'localhost';
-- One notifier at a time mails a guardian, also across Galera nodes (version 8).
GRANT SELECT, INSERT, UPDATE ON guardlist.notify_locks TO 'guardlist_notifier'@'localhost';

-- guardlist-approve: closes challenges and inserts rules.
CREATE USER IF NOT EXISTS 'guardlist_approver'@'localhost';
GRANT SELECT, UPDATE (status, is_open, decided_at, decided_by, decided_rule)
      ON guardlist.challenges TO 'guardlist_approver'@'localhost';
-- INSERT ... ON DUPLICATE KEY UPDATE needs UPDATE on the inserted columns too.
GRANT SELECT, INSERT, UPDATE (recipient, sender, action, created_by)
      ON guardlist.sender_rules TO 'guardlist_approver'@'localhost';
GRANT SELECT ON guardlist.notifications TO 'guardlist_approver'@'localhost';
-- A link works only while its guardian still guards the key.
GRANT SELECT ON guardlist.guardians TO 'guardlist_approver'@'localhost';
-- A rule closes the challenges it decides (lib/cover.c): which rules match.
GRANT SELECT ON guardlist.whitelist TO 'guardlist_approver'@'localhost';
GRANT INSERT ON guardlist.audit_log TO 'guardlist_approver'@'localhost';

-- guardlist-web: edits rules, guardians and the pending queue.
CREATE USER IF NOT EXISTS 'guardlist_web'@'localhost';
GRANT SELECT, INSERT, UPDATE, DELETE ON guardlist.protected_users TO 'guardlist_web'@'localhost';
GRANT SELECT, INSERT, UPDATE, DELETE ON guardlist.whitelist TO 'guardlist_web'@'localhost';
GRANT SELECT, INSERT, UPDATE, DELETE ON guardlist.guardians TO 'guardlist_web'@'localhost';
GRANT SELECT, INSERT, UPDATE, DELETE ON guardlist.sender_rules TO 'guardlist_web'@'localhost';
GRANT SELECT, UPDATE (status, is_open, decided_at, decided_by, decided_rule)
      ON guardlist.challenges TO 'guardlist_web'@'localhost';
GRANT SELECT, INSERT ON guardlist.audit_log TO 'guardlist_web'@'localhost';
-- The address book import judges contacts against the rules in memory
-- (rulesdb_load(), which reads the login mappings with them).
GRANT SELECT ON guardlist.accounts TO 'guardlist_web'@'localhost';
