#!/bin/sh
# `make run`: a private MariaDB under var/, the schema, one example protected
# recipient with a guardian and a whitelisted sender, a private DNS server
# (dnsmasq) for SPF, and guardlistd in the foreground on 127.0.0.1:10040;
# Postfix with an inbound port, the notifier's port and an authenticated
# submission port (SASL through a private Dovecot, the kid's login in
# var/dovecot/passwd).  Ctrl-C stops everything; var/ is kept, so
# the next run starts with the same data.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VAR="$ROOT/var"
DATA="$VAR/mysql"
SOCK="$VAR/mysql.sock"
LISTEN_PORT=${GUARDLIST_PORT:-10040}
SMTP_PORT=${GUARDLIST_SMTP_PORT:-2525}
# The notifier's own submission port: permits before any policy check, so a
# guardian whose own address is protected still gets guardlist's emails.
NOTIFY_PORT=${GUARDLIST_NOTIFY_PORT:-2526}
METRICS_PORT=${GUARDLIST_METRICS_PORT:-9310}     # guardlistd's /metrics; the notifier's is the next port
HTTP_PORT=${GUARDLIST_HTTP_PORT:-8080}
# Authenticated submission (the kid's mail program): SASL through Dovecot's
# auth service, which listens on SASL_PORT (loopback) for Postfix only.
SUBMIT_PORT=${GUARDLIST_SUBMIT_PORT:-2587}
SASL_PORT=${GUARDLIST_SASL_PORT:-10041}
DC="$VAR/dovecot"

# SPF asks a private dnsmasq that knows only the demo's domains: example.com
# lets 127.0.0.1 send its mail, every other name has no SPF record.  Nothing
# leaves the machine.
DNS_PORT=${GUARDLIST_DNS_PORT:-10053}
PF="$VAR/postfix"
MYSQL="mariadb --no-defaults -uroot -S $SOCK"

mkdir -p "$VAR"
chmod 711 "$VAR"        # traversable, not listable: the web server reads two files here

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
DNS_PID=""
NOTIFY_PID=""
HTTPD_PID=""
DOVECOT_PID=""
POSTFIX_UP=""

stop_all() {
    trap - INT TERM EXIT
    [ -n "$POSTFIX_UP" ] && postfix -c "$PF/conf" stop >/dev/null 2>&1
    for pid in $NOTIFY_PID $HTTPD_PID $DOVECOT_PID $DAEMON_PID $DNS_PID; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
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
run_as_user = nobody        ; started as root: binds, then runs as nobody
run_as_group = www-data     ; this file's group (the CGI reads it too): SIGHUP re-reads it
spf = on                    ; an allow or a challenge needs the sender's SPF verdict first
resolver = 127.0.0.1:$DNS_PORT   ; the demo's private dnsmasq
outbound = on               ; the child logged in on the submission port writes only to approved contacts
metrics_listen = inet:127.0.0.1:$METRICS_PORT   ; Prometheus text format: curl http://127.0.0.1:$METRICS_PORT/metrics

[notifier]
user = guardlist_notifier
password_file = $VAR/db-notifier.secret
smtp_host = 127.0.0.1
smtp_port = $NOTIFY_PORT
starttls = off
from = guardlist@family.test
approve_url = http://127.0.0.1:$HTTP_PORT/approve
template_dir = $ROOT/templates
poll_interval = 2
metrics_listen = inet:127.0.0.1:$((METRICS_PORT + 1))
run_as_user = nobody

[approver]
user = guardlist_approver
password_file = $VAR/db-approver.secret
template_dir = $VAR/www/templates

[web]
user = guardlist_web
password_file = $VAR/db-web.secret
secret_file = $VAR/web.secret
admins = admin              ; any other login is a guardian: sees only what it guards
template_dir = $VAR/www/templates

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

# ---- the approval page: lighttpd runs it as www-data, so it gets copies it
# can read, and the two files it needs are given to group www-data.
mkdir -p "$VAR/www/templates"
cp "$ROOT"/templates/*.html "$ROOT"/templates/*.js "$VAR/www/templates/"
cp "$ROOT/bin/guardlist-approve" "$VAR/www/guardlist-approve"
cp "$ROOT/bin/guardlist-web" "$VAR/www/guardlist-web"
chmod 755 "$VAR/www" "$VAR/www/templates" "$VAR/www/guardlist-approve" "$VAR/www/guardlist-web"
chmod 644 "$VAR"/www/templates/*

# ---- the admin page, behind Basic auth: the form-token key and two demo
# logins (an admin, and the example guardian), random once, kept in var/.
umask 077
[ -s "$VAR/web.secret" ] || od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$VAR/web.secret"
if [ ! -s "$VAR/web-logins.txt" ]; then
    printf 'admin %s\nparent@family.test %s\n' "$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')" \
        "$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')" > "$VAR/web-logins.txt"
fi
: > "$VAR/htpasswd"
while read -r name pw; do
    printf '%s:%s\n' "$name" "$(printf '%s' "$pw" | openssl passwd -6 -stdin)" >> "$VAR/htpasswd"
done < "$VAR/web-logins.txt"
umask 022
ADMIN_PW=$(awk '$1 == "admin" { print $2 }' "$VAR/web-logins.txt")
PARENT_PW=$(awk '$1 == "parent@family.test" { print $2 }' "$VAR/web-logins.txt")
chgrp www-data "$CONF" "$VAR/db-approver.secret" "$VAR/db-web.secret" "$VAR/web.secret" "$VAR/htpasswd"
chmod 640 "$CONF" "$VAR/db-approver.secret" "$VAR/db-web.secret" "$VAR/web.secret" "$VAR/htpasswd"
# Both pages run as persistent FastCGI processes that lighttpd starts itself
# (mod_fastcgi, bin-path): they keep their database connection, so a page
# costs about a millisecond instead of a program start.  lighttpd binds their
# sockets as www-data, in a directory of its own.  (The same programs also
# run as plain CGIs: etc/web/lighttpd-guardlist.conf shows both.)
rm -rf "$VAR/www/fcgi"
mkdir -p "$VAR/www/fcgi"
chown www-data:www-data "$VAR/www/fcgi"
chmod 700 "$VAR/www/fcgi"
cat > "$VAR/lighttpd.conf" <<EOF2
server.modules = ( "mod_auth", "mod_authn_file", "mod_fastcgi" )
server.bind = "127.0.0.1"
server.port = $HTTP_PORT
server.document-root = "$VAR/www"
server.username = "www-data"
server.groupname = "www-data"
server.pid-file = "$VAR/lighttpd.pid"
fastcgi.server = (
    "/approve" => (( "bin-path" => "$VAR/www/guardlist-approve", "socket" => "$VAR/www/fcgi/approve.sock",
                     "max-procs" => 2, "check-local" => "disable",
                     "bin-environment" => ( "GUARDLIST_CONFIG" => "$CONF" ) )),
    "/admin" => (( "bin-path" => "$VAR/www/guardlist-web", "socket" => "$VAR/www/fcgi/admin.sock",
                   "max-procs" => 1, "check-local" => "disable",
                   "bin-environment" => ( "GUARDLIST_CONFIG" => "$CONF" ) )),
)
\$HTTP["url"] =~ "^/admin" {
    auth.backend = "htpasswd"
    auth.backend.htpasswd.userfile = "$VAR/htpasswd"
    auth.cache = ( "max-age" => "600" )
    auth.require = ( "" => ( "method" => "basic", "realm" => "guardlist demo", "require" => "valid-user" ) )
}
EOF2

# ---- Dovecot, for SASL only: no IMAP or POP3 (protocols is empty), the
# auth service on 127.0.0.1:$SASL_PORT for Postfix's submission port, one
# login: the kid's, its password random once and kept in var/submit-logins.txt.
mkdir -p "$DC/run" "$DC/state"
chmod 755 "$DC" "$DC/run" "$DC/state"
umask 077
if [ ! -s "$VAR/submit-logins.txt" ]; then
    printf 'kid@family.test %s\n' "$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')" > "$VAR/submit-logins.txt"
fi
umask 022
KID_PW=$(awk '$1 == "kid@family.test" { print $2 }' "$VAR/submit-logins.txt")
# Dovecot's auth process runs as user dovecot: the file is root:dovecot 0640.
awk '{ printf "%s:{PLAIN}%s\n", $1, $2 }' "$VAR/submit-logins.txt" > "$DC/passwd"
chgrp dovecot "$DC/passwd"
chmod 640 "$DC/passwd"
cat > "$DC/dovecot.conf" <<EOF2
# written by make run: a private Dovecot doing SASL authentication for Postfix
protocols =
listen = 127.0.0.1
base_dir = $DC/run
state_dir = $DC/state
instance_name = dovecot-guardlist-demo
log_path = $VAR/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DC/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  inet_listener {
    address = 127.0.0.1
    port = $SASL_PORT
  }
}
EOF2
chmod 644 "$DC/dovecot.conf"

# ---- Postfix on 127.0.0.1:$SMTP_PORT: asks guardlistd at RCPT, delivers
# family.test into Maildirs under var/mail/ (the kid's and the guardian's).
# Nothing leaves this machine: mail to any other domain (only the submission
# and the notifier's ports may send there) goes to the Maildir var/mail/outbox/.
mkdir -p "$PF/conf" "$PF/queue" "$PF/data" "$VAR/mail"
chmod 755 "$PF" "$PF/conf" "$PF/queue"
chown postfix "$PF/data"
chown nobody:nogroup "$VAR/mail"
chmod 755 "$VAR/mail"
cat > "$PF/vmailbox" <<EOF2
kid@family.test       kid/
parent@family.test    parent/
other@family.test     other/
EOF2
printf '%s\n' '!/@family\.test$/ outbox/' > "$PF/outbox.regexp"
cat > "$PF/conf/main.cf" <<EOF2
# written by make run: a private Postfix for the guardlist demo
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
syslog_name = postfix-guardlist-demo
multi_instance_name = postfix-guardlist-demo
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
myhostname = mx.family.test
mydomain = family.test
myorigin = family.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.2/32
relay_domains =
alias_maps =
alias_database =
smtpd_banner = \$myhostname ESMTP guardlist demo
virtual_mailbox_domains = family.test
virtual_mailbox_base = $VAR/mail
virtual_mailbox_maps = texthash:$PF/vmailbox, regexp:$PF/outbox.regexp
default_transport = virtual
virtual_minimum_uid = 1
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(getent group nogroup | cut -d: -f3)
recipient_delimiter = +
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =
    reject_unauth_destination,
    check_policy_service inet:127.0.0.1:$LISTEN_PORT
smtpd_policy_service_default_action = 451 4.3.5 Policy service unavailable, try again later
EOF2
cat > "$PF/conf/master.cf" <<EOF2
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
127.0.0.1:$NOTIFY_PORT inet n - n - - smtpd
  -o syslog_name=postfix-guardlist-demo/notify
  -o mynetworks=127.0.0.1/32
  -o smtpd_relay_restrictions=permit_mynetworks,reject
  -o smtpd_recipient_restrictions=permit_mynetworks,reject
127.0.0.1:$SUBMIT_PORT inet n - n - - smtpd
  -o syslog_name=postfix-guardlist-demo/submission
  -o smtpd_tls_security_level=none
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_type=dovecot
  -o smtpd_sasl_path=inet:127.0.0.1:$SASL_PORT
  -o smtpd_sasl_security_options=noanonymous
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o { smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:$LISTEN_PORT, permit_sasl_authenticated, reject }
pickup    unix n - n 60 1 pickup
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
smtp      unix - - n - - smtp
relay     unix - - n - - smtp
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
local     unix - n n - - local
virtual   unix - n n - - virtual
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF2

dnsmasq --no-daemon --conf-file=/dev/null --port="$DNS_PORT" --listen-address=127.0.0.1 --bind-interfaces \
    --no-resolv --no-hosts --user=root --pid-file= --local=/#/ --local-ttl=300 \
    --txt-record=example.com,"v=spf1 ip4:127.0.0.1 -all" 2>"$VAR/dnsmasq.log" &
DNS_PID=$!
"$ROOT/bin/guardlistd" -f -c "$CONF" 2>"$VAR/guardlistd.log" &
DAEMON_PID=$!
dovecot -F -c "$DC/dovecot.conf" 2>>"$VAR/dovecot.log" &
DOVECOT_PID=$!
i=0
until nc -z 127.0.0.1 "$SASL_PORT" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$DOVECOT_PID" 2>/dev/null; then
        echo "run: error: Dovecot did not start, see $VAR/dovecot.log" >&2
        exit 1
    fi
    sleep 0.1
done
if ! postfix -c "$PF/conf" start >"$VAR/postfix-start.log" 2>&1; then
    echo "run: error: Postfix did not start; the reason:" >&2
    script -qec "postfix -c $PF/conf check" /dev/null >&2 || true
    exit 1
fi
POSTFIX_UP=1
lighttpd -D -f "$VAR/lighttpd.conf" 2>"$VAR/lighttpd.log" &
HTTPD_PID=$!
"$ROOT/bin/guardlist-notify" -c "$CONF" 2>"$VAR/guardlist-notify.log" &
NOTIFY_PID=$!

cat <<EOF2

guardlist demo: everything runs on 127.0.0.1 and keeps its state in var/.

  MariaDB            socket $SOCK (inspect: $MYSQL guardlist)
  guardlistd         policy service on 127.0.0.1:$LISTEN_PORT   (log: var/guardlistd.log)
                       metrics: http://127.0.0.1:$METRICS_PORT/metrics (Prometheus text format)
  dnsmasq            DNS for SPF on 127.0.0.1:$DNS_PORT: example.com lets 127.0.0.1 send, nothing else has SPF
  Postfix            SMTP on 127.0.0.1:$SMTP_PORT, asks guardlistd at RCPT; mailboxes in var/mail/
                     the notifier submits on 127.0.0.1:$NOTIFY_PORT (no policy check: guardians always get it)
                     submission (AUTH) on 127.0.0.1:$SUBMIT_PORT, asks guardlistd at RCPT too (with sasl_username)
                     mail to other domains is kept in var/mail/outbox/ (nothing leaves this machine)
  Dovecot            SASL authentication only, auth on 127.0.0.1:$SASL_PORT   (log: var/dovecot.log)
                       the kid's login: kid@family.test / $KID_PW  (var/submit-logins.txt)
  guardlist-notify   emails guardians through that Postfix       (log: var/guardlist-notify.log)
                       metrics: http://127.0.0.1:$((METRICS_PORT + 1))/metrics
  approval page      http://127.0.0.1:$HTTP_PORT/approve          (lighttpd, FastCGI guardlist-approve)
  admin page         http://127.0.0.1:$HTTP_PORT/admin            (lighttpd, FastCGI guardlist-web, Basic auth)
                       log in as admin / $ADMIN_PW  (sees and changes everything), or as
                       parent@family.test / $PARENT_PW  (sees only kid@family.test)
                       (the logins are in var/web-logins.txt)
  config             $CONF

  kid@family.test is protected; its guardian is parent@family.test; grandma@example.com is allowed.

Try it, from another terminal:
  1. A stranger writes to the kid, and is held off (450):
       swaks --server 127.0.0.1:$SMTP_PORT --from stranger@example.net --to kid@family.test
  2. The guardian's email arrives within a few seconds in var/mail/parent/new/:
       ls var/mail/parent/new/
     Open the link in it (http://127.0.0.1:$HTTP_PORT/approve?t=...) in a browser and press
     "Allow this sender" (or: the admin page's Pending tab, or
     bin/guardlist -c $CONF pending, then ... approve ID).
  3. The stranger's server retries: the same command now gets 250 and the message lands in
     var/mail/kid/new/.
  Grandma gets through at once:
       swaks --server 127.0.0.1:$SMTP_PORT --from grandma@example.com --to kid@family.test
  Someone forging grandma's address from a host example.com's SPF does not name is refused (550 5.7.23):
       swaks --server 127.0.0.1:$SMTP_PORT --local-interface 127.0.0.3 --from grandma@example.com --to kid@family.test
  Why a sender gets what it gets:
       bin/guardlist -c $CONF check stranger@example.net kid@family.test
  The kid writes, logged in, through the submission port, to a new friend: refused (550,
  "your guardian has been asked"), and the guardian gets "kid@family.test wants to write
  to friend@example.net" in var/mail/parent/new/; once allowed, the same command gets 250
  and the mail lands in var/mail/outbox/ (nothing leaves this machine):
       swaks --server 127.0.0.1:$SUBMIT_PORT --auth PLAIN --auth-user kid@family.test \\
             --auth-password $KID_PW --from kid@family.test --to friend@example.net
  The kid's address book as contacts: the admin page's "Import contacts" tab, or
       bin/guardlist -c $CONF contacts import --child kid@family.test FILE.vcf

Postfix main.cf lines for a real server: bin/guardlist -c $CONF postfix-config
Aliases or settings that let mail past guardlist (this demo has none):
       bin/guardlist -c $CONF doctor --postfix $PF/conf
Ctrl-C stops everything.

EOF2

# Runs until Ctrl-C, or until a service dies.
while kill -0 "$DAEMON_PID" 2>/dev/null && kill -0 "$HTTPD_PID" 2>/dev/null && kill -0 "$NOTIFY_PID" 2>/dev/null \
    && kill -0 "$DOVECOT_PID" 2>/dev/null && kill -0 "$DNS_PID" 2>/dev/null; do
    sleep 1
done
echo "run: a service stopped; see the logs in var/" >&2
exit 1
