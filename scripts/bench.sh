#!/usr/bin/env bash
# `make bench`: our Issuer and ResourceAPI under wrk, with the anchors of issue 8 (the Go
# seed and Hummingbird + jwt-kit) measured in the same run when ../shared/bench exists,
# then one table of our figures, the anchors' and the ratios against the targets.
#
# Method (the anchors' harness, ../shared/bench/harness/README.md): the server under
# test on core SERVER_CPU (0), wrk on core WRK_CPU (1) with one thread, 64 connections,
# 10 s windows; every claim is a ratio of figures taken in this one run. After each
# window a `<label>_cpu` line says how busy both cores were; a window where the server
# core was busier than the server itself was disturbed by something else.
#
# Knobs (env):
#   BENCH_S (10)       seconds per wrk window         CONNS (64)      wrk connections
#   SOAK_S (60)        RSS soak of the ResourceAPI (0 skips)
#   ANCHORS (auto)     0 skips the anchors; default: run them when ANCHORS_SRC exists
#   ANCHORS_SRC        default ../shared/bench; copied to .bench/anchors and built there
#   MICRO (1)          0 skips the micro-benchmarks (Benchmarks/, package-benchmark)
#   WAIT_IDLE_S (0)    before each window wait up to N s for both cores to be idle
#   RESULTS_OUT        also write the report (markdown) to this file, e.g. bench/RESULTS.md
#   BENCH_SCRATCH      scratch path of the release build (.build-static: static Swift runtime)
#   SKIP_BUILD=1       use the binaries already built (for development)
#   BENCH_BIN          a folder with other `issuer` and `resource-api` binaries to measure
#                      (an older commit's, for a before/after in one machine); skips the build
#   SCENARIOS (all)    our windows to run, e.g. "greet_hot healthz" (for development)
#   BENCH_TLS (1)      0 skips the TLS windows (scripts/bench-tls.sh: greet over HTTPS
#                      keep-alive against HTTP, full handshakes per second)
# Raw result lines: .bench/results/run-<time>.txt; the report: .bench/results/latest.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LUA_DIR="$ROOT/scripts/bench"
WORK="$ROOT/.bench"
# The Swift runtime linked statically, as deploy/Dockerfile builds what users run.
SCRATCH=${BENCH_SCRATCH:-.build-static}
STATIC=(--static-swift-stdlib)
BENCH_S=${BENCH_S:-10}; CONNS=${CONNS:-64}; SOAK_S=${SOAK_S:-60}
SERVER_CPU=${SERVER_CPU:-0}; WRK_CPU=${WRK_CPU:-1}
WAIT_IDLE_S=${WAIT_IDLE_S:-0}; MICRO=${MICRO:-1}
ANCHORS_SRC=${ANCHORS_SRC:-$ROOT/../shared/bench}
if [ -z "${ANCHORS:-}" ]; then if [ -d "$ANCHORS_SRC" ]; then ANCHORS=1; else ANCHORS=0; fi; fi
DISTINCT_TOKENS=${DISTINCT_TOKENS:-10000}
export BENCH_LUA_DIR="$LUA_DIR" WRK_CPU

log() { echo "[bench] $*" >&2; }
mkdir -p "$WORK/results"
OUT="$WORK/results/run-$(date -u +%Y%m%dT%H%M%SZ).txt"
: >"$OUT"
emit() { printf '%s\n' "$*" | tee -a "$OUT"; }  # result lines: stdout and the run file

# MARK: dependencies

deps=(wrk curl openssl python3 util-linux)
if [ "$ANCHORS" = 1 ]; then
    # What ../shared/bench/go-seed/build.sh needs (Go 1.19 and the two libraries, from Debian).
    deps+=(golang-go golang-github-golang-jwt-jwt-dev golang-github-labstack-echo-dev)
fi
"$ROOT/scripts/install-deps.sh" "${deps[@]}"
[ "$(nproc --all)" -gt "$(( SERVER_CPU > WRK_CPU ? SERVER_CPU : WRK_CPU ))" ] || { log "need cores $SERVER_CPU and $WRK_CPU"; exit 1; }

# MARK: build

[ -z "${BENCH_BIN:-}" ] || SKIP_BUILD=1
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "swift build -c release ${STATIC[*]} --scratch-path $SCRATCH"
    swift build -c release "${STATIC[@]}" --scratch-path "$SCRATCH" --product issuer >&2
    swift build -c release "${STATIC[@]}" --scratch-path "$SCRATCH" --product resource-api >&2
fi
BIN="${BENCH_BIN:-$(swift build -c release "${STATIC[@]}" --scratch-path "$SCRATCH" --show-bin-path)}"

if [ "$ANCHORS" = 1 ]; then
    # The anchors build into their own folders; ../shared/bench is read-only, so they run
    # from a copy (refreshed only where the original is newer, so builds stay incremental).
    mkdir -p "$WORK/anchors"
    for part in harness go-seed swift-jwtkit; do
        [ -d "$ANCHORS_SRC/$part" ] || { log "no $ANCHORS_SRC/$part"; exit 1; }
        cp -ru "$ANCHORS_SRC/$part" "$WORK/anchors/"
    done
    chmod -R u+w "$WORK/anchors"
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
        log "building the jwt-kit anchor (release)"
        (cd "$WORK/anchors/swift-jwtkit" && swift build -c release >&2)
    fi
fi

# MARK: helpers

freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'; }

# The method of the anchors' harness: CPU of the server and of wrk, and how busy each
# core was, over one window.  snap PID -> "t_ns server_ticks S_busy S_total W_busy W_total children_ticks"
snap() {
    local t; t=$(date +%s%N)
    awk -v t="$t" -v s="cpu$SERVER_CPU" -v w="cpu$WRK_CPU" -v spid="/proc/$1/stat" -v me="/proc/$$/stat" '
      FILENAME == spid || FILENAME == me { split($0, a, ") "); split(a[2], f, " ");
          if (FILENAME == spid) st = f[12] + f[13]; else ch = f[14] + f[15]; next }
      $1==s { sb=$2+$3+$4+$7+$8+$9; stt=sb+$5+$6 }
      $1==w { wb=$2+$3+$4+$7+$8+$9; wt=wb+$5+$6 }
      END { print t, st, sb, stt, wb, wt, ch }' "/proc/$1/stat" "/proc/$$/stat" /proc/stat
}
cpu_line() { # cpu_line LABEL SNAP0 SNAP1
    awk -v lbl="$1" -v hz="$(getconf CLK_TCK)" -v l="$(cut -d' ' -f1 /proc/loadavg)" 'NR==1{split($0,a," ")} NR==2{split($0,b," ")}
      END { dt=(b[1]-a[1])/1e9; tick=hz*dt/100;
            srv=(b[2]-a[2])/tick; ld=(b[7]-a[7])/tick;
            sb=(b[3]-a[3])/(b[4]-a[4])*100; wb=(b[5]-a[5])/(b[6]-a[6])*100;
            f=sb+wb-srv-ld; if (f<0) f=0;
            printf "%s_cpu server_cpu_pct=%.1f load_cpu_pct=%.1f foreign_cpu_pct=%.1f server_core_busy_pct=%.1f load_core_busy_pct=%.1f loadavg1=%s\n",
              lbl, srv, ld, f, sb, wb, l }' <(printf '%s\n%s\n' "$2" "$3")
}
wait_idle() {
    [ "$WAIT_IDLE_S" -gt 0 ] || return 0
    local deadline=$(( $(date +%s) + WAIT_IDLE_S )) idle
    while :; do
        idle=$(python3 -c '
import time
def rd():
    with open("/proc/stat") as f:
        v = list(map(int, f.readline().split()[1:9])); return sum(v), v[3] + v[4]
t0, i0 = rd(); time.sleep(2); t1, i1 = rd()
print(int(100 * (i1 - i0) / max(1, t1 - t0)))')
        [ "$idle" -ge 95 ] && return 0
        [ "$(date +%s)" -ge "$deadline" ] && { log "machine not idle (${idle}% idle), going on"; return 0; }
    done
}
# wrk_window LABEL SERVER_PID SCRIPT URL [wrk args...]: one window, its result and _cpu lines.
wrk_window() {
    local label=$1 pid=$2 script=$3 url=$4; shift 4
    local s0 s1 out line
    wait_idle
    log "$label ${BENCH_S}s c=$CONNS"
    s0=$(snap "$pid")
    out=$(BENCH_LABEL="$label" taskset -c "$WRK_CPU" wrk -t1 -c"$CONNS" -d"${BENCH_S}s" --timeout 5s \
        -s "$LUA_DIR/$script" "$@" "$url" 2>&1) || { printf '%s\n' "$out" >&2; return 1; }
    s1=$(snap "$pid")
    line=$(printf '%s\n' "$out" | grep -m1 "^$label rps=") || { printf '%s\n' "$out" >&2; return 1; }
    emit "ours.$line"
    emit "ours.$(cpu_line "$label" "$s0" "$s1")"
}
want() { [ "${SCENARIOS:-all}" = all ] || [[ " $SCENARIOS " == *" $1 "* ]]; }
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# MARK: anchors: the Go seed

if [ "$ANCHORS" = 1 ]; then
    log "Go seed (harness/run_go_seed.sh --extras)"
    WAIT_IDLE_S=$WAIT_IDLE_S GREET_S=$BENCH_S LOGIN_S=$BENCH_S EXTRA_S=$BENCH_S CONNS=$CONNS SERVER_CPU=$SERVER_CPU \
        "$WORK/anchors/harness/run_go_seed.sh" --extras | sed 's/^/go./' | tee -a "$OUT"
fi

# MARK: ours

RUN="$WORK/run"
rm -rf "$RUN"
mkdir -p "$RUN/keys" "$RUN/data"
chmod 700 "$RUN/keys" "$RUN/data"
ISSUER_PORT=$(freeport); API_PORT=$(freeport)
while [ "$API_PORT" = "$ISSUER_PORT" ]; do API_PORT=$(freeport); done
ISSUER="http://127.0.0.1:$ISSUER_PORT"; API="http://127.0.0.1:$API_PORT"
common=(--keys-dir "$RUN/keys" --data "$RUN/data/issuer.sqlite" --issuer-url "$ISSUER")
ISSUER_PID=; API_PID=
cleanup() {
    for pid in $API_PID $ISSUER_PID; do
        if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
wait_ready() { # URL PID LOG
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || { cat "$3" >&2; log "server died"; return 1; }
        sleep 0.1
    done
    cat "$3" >&2; log "$1 not ready"; return 1
}

printf 'password1\n' | "$BIN/issuer" users add user1 --role user --password-stdin "${common[@]}" >/dev/null
# Access tokens live 1 h so that the distinct-token set stays valid through the run;
# warning-level logs, like the anchors (which log nothing per request).
taskset -c "$SERVER_CPU" "$BIN/issuer" serve --port "$ISSUER_PORT" "${common[@]}" --access-ttl 1h --log-level warning \
    >"$RUN/issuer.log" 2>&1 &
ISSUER_PID=$!
wait_ready "$ISSUER/readyz" "$ISSUER_PID" "$RUN/issuer.log"
taskset -c "$SERVER_CPU" "$BIN/resource-api" --port "$API_PORT" --issuer-url "$ISSUER" --log-level warning \
    >"$RUN/resource-api.log" 2>&1 &
API_PID=$!
wait_ready "$API/readyz" "$API_PID" "$RUN/resource-api.log"
log "issuer pid $ISSUER_PID ($ISSUER), resource-api pid $API_PID ($API), cpus $(awk '/Cpus_allowed_list/{print $2}' /proc/$API_PID/status)"

login() { curl -fsS -X POST -H 'Content-Type: application/json' -d '{"username":"user1","password":"password1"}' "$ISSUER/login"; }
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
session=$(login)
TOKEN=$(json_field access_token <<<"$session")
body=$(curl -fsS -H "Authorization: Bearer $TOKEN" "$API/api/greet")
[ "$body" = "hi user1!" ] || { log "greet answered '$body'"; exit 1; }
code=$(curl -sS -o /dev/null -w '%{http_code}' "$API/api/greet")
[ "$code" = 401 ] || { log "greet without a token answered $code, want 401"; exit 1; }

# Rejection tokens. Expired: our real claims and header, exp an hour ago, signed with the
# Issuer's active key (so only the time check can refuse it). Tampered: sub rewritten,
# signature kept (one RSA verify refuses it).
KID=$(python3 -c 'import base64,json,sys; h=sys.argv[1].split(".")[0]; print(json.loads(base64.urlsafe_b64decode(h+"="*(-len(h)%4)))["kid"])' "$TOKEN")
EXPIRED_CLAIMS=$(python3 - "$TOKEN" <<'PY'
import base64, json, sys, time
p = sys.argv[1].split(".")[1]
c = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
now = int(time.time())
c.update(iat=now - 7200, nbf=now - 7200, exp=now - 3600)
print(json.dumps(c, separators=(",", ":")))
PY
)
h=$(cut -d. -f1 <<<"$TOKEN"); p=$(printf '%s' "$EXPIRED_CLAIMS" | b64url)
s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$RUN/keys/key-$KID.pem" -binary | b64url)
EXPIRED="$h.$p.$s"
TAMPERED=$(python3 - "$TOKEN" <<'PY'
import base64, json, sys
h, p, s = sys.argv[1].split(".")
c = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
c["sub"] = "admin"
p2 = base64.urlsafe_b64encode(json.dumps(c, separators=(",", ":")).encode()).rstrip(b"=").decode()
print(f"{h}.{p2}.{s}")
PY
)
for t in EXPIRED TAMPERED; do
    answer=$(curl -sS -D - -o /dev/null -H "Authorization: Bearer ${!t}" "$API/api/greet" | tr -d '\r')
    grep -q '^HTTP/1.1 401' <<<"$answer" || { log "$t token was not refused with 401: $answer"; exit 1; }
    log "$t: $(grep -i '^www-authenticate' <<<"$answer")"
done

# Refresh tokens: one session (one login) per chain; refresh.lua rotates each chain. A few
# more sessions than connections: wrk asks for the next request of a connection before
# the response that frees a token has been read, so a pool of exactly one token per
# connection would run dry and send failing requests.
mint_sessions() { # N FILE
    : >"$2"
    for _ in $(seq 1 "$1"); do json_field refresh_token <<<"$(login)" >>"$2"; done
}
log "minting $DISTINCT_TOKENS distinct access tokens through refresh chains"
mint_sessions 12 "$RUN/refresh-mint.txt"
: >"$RUN/tokens.txt"
BENCH_LABEL=mint REFRESH_FILE="$RUN/refresh-mint.txt" ACCESS_OUT="$RUN/tokens.txt" ACCESS_MAX=$DISTINCT_TOKENS \
    taskset -c "$WRK_CPU" wrk -t1 -c8 -d30s --timeout 5s -s "$LUA_DIR/refresh.lua" "$ISSUER" >/dev/null &
mint_pid=$!
while kill -0 "$mint_pid" 2>/dev/null && [ "$(wc -l <"$RUN/tokens.txt" 2>/dev/null || echo 0)" -lt "$DISTINCT_TOKENS" ]; do sleep 0.5; done
kill "$mint_pid" 2>/dev/null || true; wait "$mint_pid" 2>/dev/null || true
distinct=$(sort -u "$RUN/tokens.txt" | wc -l)
[ "$distinct" -ge "$DISTINCT_TOKENS" ] || { log "only $distinct distinct tokens minted"; exit 1; }
mint_sessions $((CONNS + 16)) "$RUN/refresh.txt"

emit "ours.run server=ours swift=$(swift --version 2>/dev/null | grep -o 'Swift version [0-9.]*' | awk '{print $3}') server_cpu=$SERVER_CPU wrk_cpu=$WRK_CPU conns=$CONNS window_s=$BENCH_S distinct_tokens=$distinct"
emit "ours.threads issuer=$(ls /proc/$ISSUER_PID/task | wc -l) api=$(ls /proc/$API_PID/task | wc -l)"
emit "ours.rss_idle api_rss_kb=$(rss_kb "$API_PID") issuer_rss_kb=$(rss_kb "$ISSUER_PID")"

want greet_hot && wrk_window greet_hot "$API_PID" report.lua "$API/api/greet" -H "Authorization: Bearer $TOKEN"
want greet_distinct && TOKEN_FILE="$RUN/tokens.txt" wrk_window greet_distinct "$API_PID" tokens.lua "$API"
want greet_expired && wrk_window greet_expired "$API_PID" report.lua "$API/api/greet" -H "Authorization: Bearer $EXPIRED"
want greet_tampered && wrk_window greet_tampered "$API_PID" report.lua "$API/api/greet" -H "Authorization: Bearer $TAMPERED"
want greet_noauth && wrk_window greet_noauth "$API_PID" report.lua "$API/api/greet"
want healthz && wrk_window healthz "$API_PID" report.lua "$API/healthz"
emit "ours.rss_after_load api_rss_kb=$(rss_kb "$API_PID") issuer_rss_kb=$(rss_kb "$ISSUER_PID") $(awk '/^RssAnon:/{a=$2} /^RssFile:/{f=$2} END{print "api_rss_anon_kb=" a " api_rss_file_kb=" f}' /proc/$API_PID/status)"

want issuance_refresh && REFRESH_FILE="$RUN/refresh.txt" wrk_window issuance_refresh "$ISSUER_PID" refresh.lua "$ISSUER"
# Where the /token fast path committed its refreshes (minting included): on the event loop,
# or after waiting for a busy database (a RESTART checkpoint, a login).
emit "ours.fast_path_refreshes $(curl -s "$ISSUER/metrics" | awk '/^issuer_refresh_commits_total/{split($1, a, "\""); printf "%s=%s ", a[2], $2}')"
want login && BENCH_METHOD=POST BENCH_BODY='{"username":"user1","password":"password1"}' BENCH_CTYPE=application/json \
    wrk_window login "$ISSUER_PID" report.lua "$ISSUER/login"
emit "ours.rss_after_issuance api_rss_kb=$(rss_kb "$API_PID") issuer_rss_kb=$(rss_kb "$ISSUER_PID")"

if [ "$SOAK_S" -gt 0 ]; then
    # The Issuer (on the same core) copies the issuance window's WAL back in the background;
    # let it finish first, or it takes part of the core from the soak (at most 60 s).
    for _ in $(seq 1 60); do
        t0=$(awk '{print $14 + $15}' "/proc/$ISSUER_PID/stat"); sleep 1; t1=$(awk '{print $14 + $15}' "/proc/$ISSUER_PID/stat")
        [ $(( t1 - t0 )) -le 2 ] && break
    done
    # 60 s of distinct tokens (every request a cache miss and an insert): RSS must not grow.
    before=$(rss_kb "$API_PID")
    BENCH_S=$SOAK_S TOKEN_FILE="$RUN/tokens.txt" wrk_window soak "$API_PID" tokens.lua "$API"
    emit "ours.rss_soak api_rss_kb_before=$before api_rss_kb_after=$(rss_kb "$API_PID")"
fi
cleanup
ISSUER_PID=; API_PID=

# MARK: anchors: Hummingbird + jwt-kit

if [ "$ANCHORS" = 1 ]; then
    log "Hummingbird + jwt-kit (swift-jwtkit/measure.sh --extras)"
    (cd "$WORK/anchors/swift-jwtkit" && WAIT_IDLE_S=$WAIT_IDLE_S GREET_S=$BENCH_S LOGIN_S=$BENCH_S EXTRA_S=$BENCH_S \
        CONNS=$CONNS SERVER_CPU=$SERVER_CPU SKIP_BUILD=1 ./run.sh ./measure.sh --extras) | sed 's/^/jwtkit./' | tee -a "$OUT"
fi

# MARK: TLS (issue 15)

if [ "${BENCH_TLS:-1}" = 1 ] && [ -z "${BENCH_BIN:-}" ]; then
    log "TLS windows (scripts/bench-tls.sh)"
    SKIP_BUILD=1 BENCH_SCRATCH="$SCRATCH" BENCH_S="$BENCH_S" CONNS="$CONNS" SERVER_CPU="$SERVER_CPU" WRK_CPU="$WRK_CPU" \
        "$ROOT/scripts/bench-tls.sh" 2>/dev/null | tee -a "$OUT"
fi

# MARK: micro-benchmarks

if [ "$MICRO" = 1 ]; then
    log "micro-benchmarks (Benchmarks/, package-benchmark)"
    # Exit 2: a regression beyond the thresholds in Benchmarks/Thresholds; 4: improvements only.
    micro_rc=0
    "$ROOT/scripts/microbench.sh" --results "$WORK/results/micro" >"$WORK/results/micro.txt" || micro_rc=$?
    python3 "$LUA_DIR/micro_summary.py" "$WORK/results/micro" | sed 's/^/micro./' | tee -a "$OUT"
    emit "micro.thresholds_check rc=$micro_rc"
fi

# MARK: report

emit "meta date=$(date -u +%Y-%m-%dT%H:%MZ) cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs | tr ' ' '_') cores=$(nproc --all) kernel=$(uname -r) openssl=$(openssl version | awk '{print $2}')"
python3 "$LUA_DIR/report.py" "$OUT" | tee "$WORK/results/latest.md"
if [ -n "${RESULTS_OUT:-}" ]; then
    mkdir -p "$(dirname "$RESULTS_OUT")"
    python3 "$LUA_DIR/report.py" --full "$OUT" >"$RESULTS_OUT"
    log "wrote $RESULTS_OUT"
fi
