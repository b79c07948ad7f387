#!/bin/sh
# Installs the Debian packages guardlist needs to build, run and test, and
# only those that are missing.  Idempotent; needs root only when something
# is missing.
#
#   sh scripts/deps.sh          build, run and test packages
#   sh scripts/deps.sh bench    those, and postgrey (the peer `make bench`
#                               measures guardlistd against)
#
# postgrey's package would start its own service on port 10023,
# dovecot-core's its system-wide Dovecot, and prometheus (installed for its
# promtool) a Prometheus server and node exporter; the benchmark runs a private
# postgrey and the tests and `make run` a private Dovecot (tests/lib/dovecot.py)
# instead, so the install keeps services from starting (policy-rc.d) and the
# system services are never used.
set -eu

case "${1:-}" in
    "") with_bench=0 ;;
    bench) with_bench=1 ;;
    *) echo "usage: sh scripts/deps.sh [bench]" >&2; exit 2 ;;
esac

PACKAGES="build-essential pkg-config default-libmysqlclient-dev libmariadb-dev libinih-dev
uuid-dev libesmtp-dev libcmocka-dev mariadb-server mariadb-client swaks
libtest-harness-perl netcat-openbsd python3 clang libclang-rt-14-dev postfix
postfix-mysql postfix-lmdb postfix-cdb lighttpd chromium cppcheck clang-tidy clang-tools openssl libssl-dev
libicu-dev groff-base libfcgi-dev spawn-fcgi libpsl-dev publicsuffix dovecot-core galera-4 rsync
libspf2-dev dnsmasq-base libidn2-dev libmicrohttpd-dev prometheus liburing-dev"
if [ "$with_bench" = 1 ]; then
    PACKAGES="$PACKAGES postgrey"
fi

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

# node and npm may come from elsewhere (NodeSource's nodejs bundles npm and
# conflicts with Debian's npm package): look for the commands.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"

if [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "deps: error: these packages are missing:$missing" >&2
    echo "deps: run 'make deps' as root, or: sudo apt-get install$missing" >&2
    exit 1
fi

echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# postgrey's, dovecot-core's and prometheus's packages start their services at install:
# while one of them is installed, a policy-rc.d answering 101 ("action
# forbidden") keeps every service of that install from starting (unless a
# policy-rc.d is there already).
policy=/usr/sbin/policy-rc.d
case " $missing " in *" postgrey "* | *" dovecot-core "* | *" prometheus "*) need_policy=1 ;; *) need_policy=0 ;; esac
if [ "$need_policy" = 1 ] && [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# guardlist deps.sh: no service starts during this install\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
    trap 'rm -f "$policy"; exit 1' HUP INT TERM
fi
# Postfix (used by later suites) asks a question at install; answer it up front.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# A Dovecot installed here is for the private instances only: not at boot
# either; prometheus is here for promtool alone.
case " $missing " in
    *" dovecot-core "*)
        if command -v systemctl >/dev/null 2>&1; then
            systemctl disable --quiet dovecot.service dovecot.socket 2>/dev/null || true
        fi ;;
esac
case " $missing " in
    *" prometheus "*)
        if command -v systemctl >/dev/null 2>&1; then
            systemctl disable --quiet prometheus.service prometheus-node-exporter.service 2>/dev/null || true
        fi ;;
esac
echo "deps: done"
