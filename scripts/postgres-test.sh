#!/usr/bin/env bash
# The Swift tests that need PostgreSQL (issue 9), against a throwaway cluster:
# installs Debian's `postgresql` when missing (as root), runs initdb in a temporary
# directory as an unprivileged user, starts it on a free loopback port, runs the tests
# gated on ISSUER_TEST_POSTGRES_URL, and stops and removes the cluster whatever happens.
# Usage: scripts/postgres-test.sh [extra `swift test` arguments, e.g. --skip-build]
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT="${SWIFT:-swift}"

find_pg_bin() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
    done
    return 1
}

if ! PG_BIN="$(find_pg_bin)"; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "postgres-test: PostgreSQL is not installed and this is not root: apt-get install postgresql" >&2
        exit 1
    fi
    echo "postgres-test: installing PostgreSQL from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # A policy-rc.d that says "no" keeps the package from starting its own cluster on 5432.
    policy_added=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy_added=1
    fi
    install_status=0
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null || install_status=$?
    if [ "$policy_added" -eq 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    [ "$install_status" -eq 0 ] || { echo "postgres-test: apt-get install postgresql failed" >&2; exit 1; }
    PG_BIN="$(find_pg_bin)"
fi

# initdb refuses to run as root: use an unprivileged account.
run_as=()
if [ "$(id -u)" -eq 0 ]; then
    pg_user=postgres
    if ! id -u "$pg_user" >/dev/null 2>&1; then
        pg_user=issuer-pgtest
        id -u "$pg_user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$pg_user"
    fi
    run_as=(runuser -u "$pg_user" --)
fi

work="$(mktemp -d /tmp/issuer-pgtest.XXXXXX)"
chmod 755 "$work"
password="$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$work/data" "$work/socket"
printf '%s\n' "$password" >"$work/pwfile"
if [ ${#run_as[@]} -gt 0 ]; then chown -R "$pg_user" "$work"; fi

cleanup() {
    "${run_as[@]}" "$PG_BIN/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

"${run_as[@]}" "$PG_BIN/initdb" -D "$work/data" -U issuer --pwfile="$work/pwfile" --auth=scram-sha-256 \
    --encoding=UTF8 --locale=C >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log"; exit 1; }
rm -f "$work/pwfile"
"${run_as[@]}" "$PG_BIN/pg_ctl" -D "$work/data" -l "$work/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $work/socket -c fsync=off -c max_connections=200" start >/dev/null \
    || { cat "$work/server.log"; exit 1; }
echo "postgres-test: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"

export ISSUER_TEST_POSTGRES_URL="postgres://issuer:$password@127.0.0.1:$port/postgres?sslmode=disable"
status=0
"$SWIFT" test "$@" --filter "${POSTGRES_TEST_FILTER:-PostgresStoreConformanceTests|PostgresReplicaTests}" || status=$?
exit "$status"
