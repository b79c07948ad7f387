-- Least-privilege accounts.  Passwords are set separately (make run and
-- `guardlist db init` generate them); replace `guardlist` if your database
-- has another name.
CREATE USER IF NOT EXISTS 'guardlist_daemon'@'localhost';
GRANT SELECT ON guardlist.protected_users TO 'guardlist_daemon'@'localhost';
GRANT SELECT ON guardlist.whitelist TO 'guardlist_daemon'@'localhost';
GRANT SELECT ON guardlist.sender_rules TO 'guardlist_daemon'@'localhost';
GRANT SELECT ON guardlist.rule_generation TO 'guardlist_daemon'@'localhost';
GRANT SELECT, INSERT (sender, recipient, protected_key,
      client_address, client_name),
      -- INSERT ... ON DUPLICATE KEY UPDATE needs UPDATE on the inserted columns too.
      UPDATE (sender, recipient, protected_key, attempts, last_seen, client_address, client_name)
      ON guardlist.challenges TO 'guardlist_daemon'@'localhost';
