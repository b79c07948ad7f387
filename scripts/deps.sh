#!/bin/sh
# Installs the Debian packages guardlist needs to build, run and test, and
# only those that are missing.  Idempotent; needs root only when something
# is missing.
set -eu

PACKAGES="build-essential pkg-config default-libmysqlclient-dev libmariadb-dev libinih-dev
uuid-dev libesmtp-dev libcmocka-dev mariadb-server mariadb-client swaks
libtest-harness-perl netcat-openbsd python3 clang postfix postfix-mysql
lighttpd chromium"

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
# Postfix (used by later suites) asks a question at install; answer it up front.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: done"
