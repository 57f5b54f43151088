#!/usr/bin/env bash
# Token issuance per second (POST /token grant_type=refresh_token) on the release build:
# one Issuer on SQLite, one on PostgreSQL, two on PostgreSQL (one wrk per Issuer, figures
# summed). Issue 9's note figures. Needs wrk and a running PostgreSQL:
#   PG_URL=postgres://USER:PW@127.0.0.1:PORT/DB?sslmode=disable scripts/postgres-bench.sh
# Knobs: BENCH_S (10) seconds per window, CONNS (32) connections per Issuer,
# SCRATCH (.build-pg-rel) the release scratch path.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
: "${PG_URL:?set PG_URL to a postgres:// URL}"
BENCH_S=${BENCH_S:-10}; CONNS=${CONNS:-32}; SCRATCH=${SCRATCH:-.build-pg-rel}
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/issuer"
[ -x "$BIN" ] || { echo "no release issuer at $BIN: swift build -c release --scratch-path $SCRATCH --product issuer" >&2; exit 1; }
WORK="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
export BENCH_LUA_DIR="$ROOT/scripts/bench"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# $1 count, $2 store argument(s) as one string; starts issuers sharing keys/, sets `ports`.
ports=()
start_issuers() {
    local count="$1" store="$2" port
    ports=()
    for _ in $(seq 1 "$count"); do
        port="$(free_port)"
        "$BIN" serve --port "$port" --keys-dir "$WORK/keys" $store --bcrypt-cost 4 --log-level error >"$WORK/issuer-$port.log" 2>&1 &
        pids+=($!)
        for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
        ports+=("$port")
    done
}

mint() {  # $1 port, $2 count, $3 file
    for _ in $(seq 1 "$2"); do
        curl -sf -H 'Content-Type: application/json' -d '{"username":"bench","password":"bench-password"}' \
            "http://127.0.0.1:$1/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])'
    done >"$3"
}

window() {  # $1 label, $2.. ports
    local label="$1"; shift
    local files=() port
    for port in "$@"; do mint "$port" $((CONNS + 16)) "$WORK/refresh-$port.txt"; done
    for port in "$@"; do
        BENCH_LABEL="$label-$port" REFRESH_FILE="$WORK/refresh-$port.txt" \
            wrk -t1 -c"$CONNS" -d"${BENCH_S}s" --timeout 5s -s "$ROOT/scripts/bench/refresh.lua" "http://127.0.0.1:$port" \
            >"$WORK/wrk-$port.txt" 2>&1 &
        files+=("$WORK/wrk-$port.txt")
    done
    wait_wrk
    local total=0 line
    for file in "${files[@]}"; do
        line="$(grep -E '^[a-z0-9-]+ rps=' "$file" || true)"
        echo "  $line"
        total="$(python3 -c "import re,sys; print(round($total + float(re.search(r'rps=([0-9.]+)', sys.argv[1]).group(1)), 1))" "$line")"
    done
    echo "$label: $total tokens/s"
}
wait_wrk() { while pgrep -P $$ -x wrk >/dev/null; do sleep 0.5; done; }

stop_issuers() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait "${pids[@]}" 2>/dev/null || true; pids=(); }

schema="bench_$(date +%s)"
pg_store="--store ${PG_URL}$( [[ "$PG_URL" == *\?* ]] && echo '&' || echo '?')schema=$schema"

# SQLite
echo bench-password | "$BIN" users add bench --password-stdin --keys-dir "$WORK/keys" --data "$WORK/issuer.sqlite" --bcrypt-cost 4 >/dev/null
start_issuers 1 "--data $WORK/issuer.sqlite"
window sqlite-1 "${ports[@]}"
stop_issuers
# PostgreSQL, one then two Issuers
echo bench-password | "$BIN" users add bench --password-stdin --keys-dir "$WORK/keys" $pg_store --bcrypt-cost 4 >/dev/null
start_issuers 1 "$pg_store"
window postgres-1 "${ports[@]}"
stop_issuers
start_issuers 2 "$pg_store"
window postgres-2 "${ports[@]}"
stop_issuers
