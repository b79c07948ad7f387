#!/bin/sh
# `make run`: a private MariaDB under var/, the schema, one example protected
# recipient with a guardian and a whitelisted sender, and guardlistd in the
# foreground on 127.0.0.1:10040.  Ctrl-C stops everything; var/ is kept, so
# the next run starts with the same data.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VAR="$ROOT/var"
DATA="$VAR/mysql"
SOCK="$VAR/mysql.sock"
LISTEN_PORT=${GUARDLIST_PORT:-10040}
MYSQL="mariadb --no-defaults -uroot -S $SOCK"

mkdir -p "$VAR"
chmod 700 "$VAR"

if [ ! -d "$DATA/mysql" ]; then
    echo "run: creating a private MariaDB in $DATA"
    mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$DATA" \
        --auth-root-authentication-method=normal --skip-test-db >"$VAR/mariadb-install.log" 2>&1 \
        || { echo "run: error: mariadb-install-db failed, see $VAR/mariadb-install.log" >&2; exit 1; }
fi

if $MYSQL -e 'select 1' >/dev/null 2>&1; then
    echo "run: error: a MariaDB already answers on $SOCK (another 'make run'?); stop it first" >&2
    exit 1
fi
mariadbd --no-defaults --user="$(id -un)" --datadir="$DATA" --socket="$SOCK" \
    --skip-networking --skip-log-bin --log-error="$VAR/mariadb.err" --pid-file="$VAR/mariadb.pid" &
DB_PID=$!
DAEMON_PID=""

stop_all() {
    trap - INT TERM EXIT
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    if kill -0 "$DB_PID" 2>/dev/null; then
        echo "run: stopping MariaDB"
        kill -TERM "$DB_PID" 2>/dev/null || true
        wait "$DB_PID" 2>/dev/null || true
    fi
}
trap stop_all EXIT
trap 'exit 0' INT TERM

i=0
until $MYSQL -e 'select 1' >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$DB_PID" 2>/dev/null; then
        echo "run: error: MariaDB did not start, see $VAR/mariadb.err" >&2
        exit 1
    fi
    sleep 0.1
done

$MYSQL -e 'CREATE DATABASE IF NOT EXISTS guardlist CHARACTER SET utf8mb4'

CONF="$VAR/guardlist.ini"
cat > "$CONF" <<EOF2
; written by make run
[database]
socket = $SOCK
name = guardlist
user = guardlist_daemon
password_file = $VAR/db-daemon.secret

[policy]
listen = inet:127.0.0.1:$LISTEN_PORT
unknown_sender = defer

[admin]
user = root                 ; the private instance's root: no password, socket only

[log]
target = stderr
level = info
EOF2
chmod 600 "$CONF"

GL="$ROOT/bin/guardlist -c $CONF --actor make-run"
# Schema, program accounts (passwords in var/db-*.secret), and the example
# household.  All idempotent: a second run changes nothing.
$GL db init --secrets-dir "$VAR" >/dev/null
$GL protect kid@family.test --guardian parent@family.test >/dev/null
$GL allow grandma@example.com >/dev/null

q() {
    printf "printf 'request=smtpd_access_policy\\\\nprotocol_state=RCPT\\\\nsender=%s\\\\nrecipient=kid@family.test\\\\n\\\\n' | nc -N 127.0.0.1 %s" "$1" "$LISTEN_PORT"
}
cat <<EOF2

guardlist demo
  MariaDB     socket $SOCK (data in $DATA)
              inspect: $MYSQL guardlist
  guardlistd  policy service on 127.0.0.1:$LISTEN_PORT, config $CONF
  protected   kid@family.test (guardian parent@family.test); whitelisted grandma@example.com

Try, from another terminal:
  $(q grandma@example.com)
      -> action=DUNNO (grandma is whitelisted; Postfix goes on and delivers)
  $(q stranger@example.net)
      -> action=DEFER_IF_PERMIT ... and a pending challenge:
  bin/guardlist -c $CONF pending
  bin/guardlist -c $CONF check stranger@example.net kid@family.test

Postfix main.cf lines for this service are in README.md.  Ctrl-C stops everything.

EOF2

"$ROOT/bin/guardlistd" -f -c "$CONF" &
DAEMON_PID=$!
wait "$DAEMON_PID" || true
