#!/usr/bin/env bash
# TLS cost (issue 15): greet with one hot token over HTTPS keep-alive against the same over
# HTTP, in one run on one machine, and full TLS handshakes per second on one server core.
# Apart from scripts/bench.sh (whose windows and report belong to the performance work), with
# the same method: the server on core SERVER_CPU, the load on WRK_CPU, wrk -t1, report.lua.
#
# Knobs (env):
#   BENCH_S (10)        seconds per window          CONNS (64)   wrk connections
#   HANDSHAKE_S (10)    seconds of `openssl s_time -new` (full handshakes, no resumption)
#   BENCH_SCRATCH       scratch path of the release build (default .build-static)
#   SKIP_BUILD=1        use the binaries already built
# Output: `tls.greet_hot_http rps=...`, `tls.greet_hot_https rps=...`, `tls.https_over_http=R`
# (goal: R >= 0.85), `tls.handshakes_per_s=N` on stdout.
# Not part of `make test`; needs a quiet machine with two cores.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LUA_DIR="$ROOT/scripts/bench"
SCRATCH=${BENCH_SCRATCH:-.build-static}
BENCH_S=${BENCH_S:-10}; CONNS=${CONNS:-64}; HANDSHAKE_S=${HANDSHAKE_S:-10}
SERVER_CPU=${SERVER_CPU:-0}; WRK_CPU=${WRK_CPU:-1}
export BENCH_LUA_DIR="$LUA_DIR" WRK_CPU
log() { echo "[bench-tls] $*" >&2; }

"$ROOT/scripts/install-deps.sh" wrk curl openssl python3 util-linux
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    swift build -c release --static-swift-stdlib --scratch-path "$SCRATCH" --product issuer >&2
    swift build -c release --static-swift-stdlib --scratch-path "$SCRATCH" --product resource-api >&2
fi
BIN="$(swift build -c release --static-swift-stdlib --scratch-path "$SCRATCH" --show-bin-path)"
freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'; }

RUN="$ROOT/.bench/tls"
rm -rf "$RUN"
mkdir -p "$RUN/keys" "$RUN/data" "$RUN/tls"
chmod 700 "$RUN/keys" "$RUN/data" "$RUN/tls"

# A CA and one certificate (EC P-256, as run-local.sh makes them), keys 0600.
(
    cd "$RUN/tls"
    umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca-key.pem -out ca.pem \
        -days 2 -subj "/CN=bench CA" -addext "basicConstraints=critical,CA:TRUE" 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server-key.pem -out server.csr \
        -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile server.ext \
        -out server.pem 2>/dev/null
)
CA="$RUN/tls/ca.pem"
TLS=(--tls-cert "$RUN/tls/server.pem" --tls-key "$RUN/tls/server-key.pem")

ISSUER_PORT=$(freeport); HTTP_PORT=$(freeport); HTTPS_PORT=$(freeport)
ISSUER="http://127.0.0.1:$ISSUER_PORT"
common=(--keys-dir "$RUN/keys" --data "$RUN/data/issuer.sqlite" --issuer-url "$ISSUER")
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_ready() { # URL PID LOG [curl args]
    local url=$1 pid=$2 file=$3; shift 3
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null "$@" "$url" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$file" >&2; return 1; }
        sleep 0.1
    done
    cat "$file" >&2; return 1
}

printf 'password1\n' | "$BIN/issuer" users add user1 --role user --password-stdin "${common[@]}" >/dev/null
"$BIN/issuer" serve --port "$ISSUER_PORT" "${common[@]}" --access-ttl 1h --log-level warning >"$RUN/issuer.log" 2>&1 &
PIDS+=($!)
wait_ready "$ISSUER/readyz" "${PIDS[-1]}" "$RUN/issuer.log"

# The same binary twice, on the server core: once on HTTP, once on HTTPS.
taskset -c "$SERVER_CPU" "$BIN/resource-api" --port "$HTTP_PORT" --issuer-url "$ISSUER" --log-level warning \
    >"$RUN/http.log" 2>&1 &
HTTP_PID=$!; PIDS+=("$HTTP_PID")
taskset -c "$SERVER_CPU" "$BIN/resource-api" --port "$HTTPS_PORT" --issuer-url "$ISSUER" --log-level warning "${TLS[@]}" \
    >"$RUN/https.log" 2>&1 &
HTTPS_PID=$!; PIDS+=("$HTTPS_PID")
wait_ready "http://127.0.0.1:$HTTP_PORT/readyz" "$HTTP_PID" "$RUN/http.log"
wait_ready "https://127.0.0.1:$HTTPS_PORT/readyz" "$HTTPS_PID" "$RUN/https.log" --cacert "$CA"

TOKEN=$(curl -fsS -X POST -H 'Content-Type: application/json' -d '{"username":"user1","password":"password1"}' "$ISSUER/login" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# One window each; the servers not under load sit idle on the same core.
window() { # LABEL URL
    local out
    out=$(BENCH_LABEL="$1" taskset -c "$WRK_CPU" wrk -t1 -c"$CONNS" -d"${BENCH_S}s" --timeout 5s \
        -s "$LUA_DIR/report.lua" -H "Authorization: Bearer $TOKEN" "$2" 2>&1) || { printf '%s\n' "$out" >&2; return 1; }
    printf '%s\n' "$out" | grep -m1 "^$1 rps="
}
# wrk checks no certificate; the handshake and record costs are the same either way.
http_line=$(window greet_hot_http "http://127.0.0.1:$HTTP_PORT/api/greet")
https_line=$(window greet_hot_https "https://127.0.0.1:$HTTPS_PORT/api/greet")
echo "tls.$http_line"
echo "tls.$https_line"
rps() { sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$1"; }
python3 -c 'import sys; h, s = float(sys.argv[1]), float(sys.argv[2]); print("tls.https_over_http=%.3f (goal >= 0.85)" % (s / h if h else 0))' \
    "$(rps "$http_line")" "$(rps "$https_line")"

# Full handshakes (no session reuse: -new) against the HTTPS server on its one core; the
# client on the other core. s_time prints "N connections in T real seconds".
out=$(taskset -c "$WRK_CPU" openssl s_time -connect "127.0.0.1:$HTTPS_PORT" -new -time "$HANDSHAKE_S" -CAfile "$CA" 2>&1)
printf '%s\n' "$out" >&2
python3 -c '
import re, sys
m = re.search(r"(\d+) connections in ([0-9.]+) real seconds", sys.stdin.read())
print("tls.handshakes_per_s=%.0f" % (int(m.group(1)) / float(m.group(2))) if m else "tls.handshakes_per_s=unknown")' <<<"$out"
