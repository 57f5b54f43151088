#!/usr/bin/env bash
# The local stack behind `make run`: the Issuer on 127.0.0.1:8081, then the ResourceAPI on
# 127.0.0.1:8082, demo users on first run, a copy-paste curl session, Ctrl-C stops both.
#
# Knobs (all optional; the defaults are what `make run` wants):
#   BIN_DIR                  where `issuer` and `resource-api` are (default .build/release)
#   RUN_LOCAL_HOME           the folder that holds keys/ and data/ (default: the repository)
#   RUN_LOCAL_ISSUER_PORT    default 8081
#   RUN_LOCAL_RESOURCE_PORT  default 8082
#   RUN_LOCAL_ONCE=1         print the session, then stop both and exit (for scripted checks)
#   RUN_LOCAL_READY_TIMEOUT  seconds to wait for each /readyz (default 60)
#   RUN_LOCAL_TLS=1          both on HTTPS: a local CA and certificates under data/tls/ made
#                            with openssl on first run (keys 0600, reused later, renewed when
#                            within a day of expiry), the session printed with --cacert
# Both services also read their own ISSUER_* / RESOURCE_API_* variables from the environment
# (e.g. ISSUER_ACCESS_TTL); the host, port, URL, keys and data options are set here.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="${BIN_DIR:-$repo/.build/release}"
home="${RUN_LOCAL_HOME:-$repo}"
issuer_port="${RUN_LOCAL_ISSUER_PORT:-8081}"
resource_port="${RUN_LOCAL_RESOURCE_PORT:-8082}"
ready_timeout="${RUN_LOCAL_READY_TIMEOUT:-60}"
host=127.0.0.1
tls="${RUN_LOCAL_TLS:-0}"
scheme=http
[ "$tls" = "1" ] && scheme=https
issuer_url="$scheme://$host:$issuer_port"
resource_url="$scheme://$host:$resource_port"

issuer_bin="$bin_dir/issuer"
resource_bin="$bin_dir/resource-api"
for binary in "$issuer_bin" "$resource_bin"; do
    if [ ! -x "$binary" ]; then
        echo "run-local: $binary not found; build first (make run does: swift build -c release)" >&2
        exit 1
    fi
done
if ! command -v curl >/dev/null 2>&1; then
    echo "run-local: curl is needed to wait for /readyz (apt-get install curl)" >&2
    exit 1
fi

keys_dir="$home/keys"
data_dir="$home/data"
log_dir="$data_dir/logs"
database="$data_dir/issuer.sqlite"
mkdir -p "$keys_dir" "$data_dir" "$log_dir"
chmod 700 "$keys_dir" "$data_dir"  # private keys; password and refresh-token hashes

# Every issuer invocation (server and CLI) works on the same keys and store.
issuer_common=(--keys-dir "$keys_dir" --data "$database" --issuer-url "$issuer_url")

log() { printf 'run-local: %s\n' "$*" >&2; }

# MARK: TLS (RUN_LOCAL_TLS=1): a local CA, like mkcert, under data/tls/

tls_dir="$data_dir/tls"
ca_cert="$tls_dir/ca.pem"
curl_tls=()
issuer_tls=()
resource_tls=()

# A certificate that exists and is valid for at least another day is reused.
still_valid() { [ -f "$1" ] && openssl x509 -in "$1" -noout -checkend 86400 >/dev/null 2>&1; }

make_certificate() {
    local name="$1"
    local cert="$tls_dir/$name.pem" key="$tls_dir/$name-key.pem"
    if still_valid "$cert" && [ -f "$key" ]; then return; fi
    (umask 077 && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$key" -out "$tls_dir/$name.csr" -subj "/CN=$name (run-local)" 2>/dev/null)
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$tls_dir/$name.ext"
    openssl x509 -req -in "$tls_dir/$name.csr" -CA "$ca_cert" -CAkey "$tls_dir/ca-key.pem" -CAcreateserial \
        -days 90 -extfile "$tls_dir/$name.ext" -out "$cert" 2>/dev/null
    chmod 600 "$key"
    rm -f "$tls_dir/$name.csr" "$tls_dir/$name.ext"
    log "made $cert (90 days), signed by $ca_cert"
}

if [ "$tls" = "1" ]; then
    if ! command -v openssl >/dev/null 2>&1; then
        echo "run-local: RUN_LOCAL_TLS=1 needs the openssl command (apt-get install openssl)" >&2
        exit 1
    fi
    mkdir -p "$tls_dir"
    chmod 700 "$tls_dir"
    if ! still_valid "$ca_cert" || [ ! -f "$tls_dir/ca-key.pem" ]; then
        (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout "$tls_dir/ca-key.pem" -out "$ca_cert" -days 825 -subj "/CN=jwt-pair local CA (run-local)" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null)
        chmod 600 "$tls_dir/ca-key.pem"
        chmod 644 "$ca_cert"
        rm -f "$tls_dir/issuer.pem" "$tls_dir/resource-api.pem"  # signed by the CA replaced
        log "made a local CA: $ca_cert (trust it with curl --cacert; its key stays in $tls_dir)"
    fi
    make_certificate issuer
    make_certificate resource-api
    curl_tls=(--cacert "$ca_cert")
    issuer_tls=(--tls-cert "$tls_dir/issuer.pem" --tls-key "$tls_dir/issuer-key.pem")
    resource_tls=(--tls-cert "$tls_dir/resource-api.pem" --tls-key "$tls_dir/resource-api-key.pem" --issuer-ca-file "$ca_cert")
fi

port_busy() {
    # Something accepts connections on the port already (an earlier stack, another program).
    timeout 2 bash -c "exec 3<>/dev/tcp/$host/$1" 2>/dev/null
}
for port in "$issuer_port" "$resource_port"; do
    if port_busy "$port"; then
        log "port $port on $host is already in use; stop what runs there or set RUN_LOCAL_ISSUER_PORT / RUN_LOCAL_RESOURCE_PORT"
        exit 1
    fi
done

# MARK: demo users (first run only; a second run finds them and changes nothing)

# The user names, read once (no grep -q on a pipe: with pipefail an early exit reads as failure).
user_names="$("$issuer_bin" users list "${issuer_common[@]}" | cut -f1)"
has_user() { grep -qx "$1" <<<"$user_names"; }

first_run=0
if ! has_user user1; then
    first_run=1
    printf '%s\n' password1 | "$issuer_bin" users add user1 --role user --password-stdin --if-missing "${issuer_common[@]}" >/dev/null
    log "added demo user user1 (password: password1, role user)"
fi
admin_notice=""
if ! has_user admin; then
    # The issuer generates the password and prints it exactly once; we pass it on once.
    added="$("$issuer_bin" users add admin --role admin "${issuer_common[@]}")"
    admin_password="${added##*: }"
    admin_notice="admin password (shown once, write it down now): $admin_password"
    unset added admin_password
else
    admin_notice="admin exists already; its password was printed at its first start (reset: issuer users delete admin, then users add admin --role admin)"
fi

# MARK: start, in order, and wait for readiness

issuer_pid=""
resource_pid=""

stop() {
    trap - INT TERM
    local status=0
    # The ResourceAPI first (it depends on the Issuer), then the Issuer.
    for pid in "$resource_pid" "$issuer_pid"; do
        [ -n "$pid" ] || continue
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "process $pid did not stop within 10 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            status=1
        fi
        local code=0
        wait "$pid" 2>/dev/null || code=$?
        # 0 is a clean stop; 143 (SIGTERM) only when the process had no handler of its own.
        if [ "$code" -ne 0 ] && [ "$code" -ne 143 ]; then
            log "process $pid exited with status $code"
            status=1
        fi
    done
    issuer_pid=""
    resource_pid=""
    return "$status"
}

on_signal() {
    echo >&2
    log "stopping the ResourceAPI and the Issuer"
    if stop; then
        log "stopped cleanly"
        exit 0
    fi
    exit 1
}
trap on_signal INT TERM
trap 'stop >/dev/null 2>&1 || true' EXIT

wait_ready() {
    local name="$1" url="$2" pid="$3" log_file="$4"
    local deadline=$((SECONDS + ready_timeout))
    until curl -fsS -o /dev/null --max-time 2 ${curl_tls[@]+"${curl_tls[@]}"} "$url/readyz" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited before it was ready; the end of $log_file:"
            tail -n 20 "$log_file" >&2 || true
            exit 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "$name not ready after ${ready_timeout}s at $url/readyz; the end of $log_file:"
            tail -n 20 "$log_file" >&2 || true
            exit 1
        fi
        sleep 0.2
    done
    log "$name ready at $url"
}

"$issuer_bin" serve --host "$host" --port "$issuer_port" "${issuer_common[@]}" ${issuer_tls[@]+"${issuer_tls[@]}"} \
    >>"$log_dir/issuer.log" 2>&1 &
issuer_pid=$!
wait_ready "Issuer" "$issuer_url" "$issuer_pid" "$log_dir/issuer.log"

"$resource_bin" serve --host "$host" --port "$resource_port" --issuer-url "$issuer_url" ${resource_tls[@]+"${resource_tls[@]}"} \
    >>"$log_dir/resource-api.log" 2>&1 &
resource_pid=$!
wait_ready "ResourceAPI" "$resource_url" "$resource_pid" "$log_dir/resource-api.log"

# MARK: the session to copy

[ "$first_run" -eq 1 ] && log "first run: keys in $keys_dir, store in $database"
# The session's curl: with --cacert over HTTPS.
c="curl"
tls_line=""
if [ "$tls" = "1" ]; then
    c="curl --cacert $ca_cert"
    tls_line="TLS          CA $ca_cert; certificates and keys in $tls_dir (renew: delete them, rerun, or SIGHUP after replacing)"
fi
cat <<EOF

Issuer       $issuer_url   (keys: $keys_dir, store: $database)
ResourceAPI  $resource_url
Logs         $log_dir/issuer.log, $log_dir/resource-api.log
Demo users   user1 / password1 (role user)
             $admin_notice
$tls_line

Try it (copy-paste into another terminal; needs only curl and sed):

# --- curl session ---
# 1. log in: a token response with an access token and a refresh token
TOKENS=\$($c -s -X POST $issuer_url/login -H 'Content-Type: application/json' -d '{"username":"user1","password":"password1"}')
ACCESS=\$(printf '%s' "\$TOKENS" | sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p')
REFRESH=\$(printf '%s' "\$TOKENS" | sed -n 's/.*"refresh_token" *: *"\([^"]*\)".*/\1/p')
# 2. greet: 200 "hi user1!"
$c -si -w '\n' $resource_url/api/greet -H "Authorization: Bearer \$ACCESS"
# 3. refresh: a new access token AND a new refresh token (the old one stops working)
TOKENS=\$($c -s -X POST $issuer_url/refresh -H 'Content-Type: application/json' -d "{\"refresh_token\":\"\$REFRESH\"}")
ACCESS=\$(printf '%s' "\$TOKENS" | sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p')
REFRESH=\$(printf '%s' "\$TOKENS" | sed -n 's/.*"refresh_token" *: *"\([^"]*\)".*/\1/p')
$c -si -w '\n' $resource_url/api/greet -H "Authorization: Bearer \$ACCESS"
# 4. log out: 204; the session ends and the access token joins the revocation feed
$c -si -w '\n' -X POST $issuer_url/logout -H "Authorization: Bearer \$ACCESS" -H 'Content-Type: application/json' -d "{\"refresh_token\":\"\$REFRESH\"}"
# 5. the ResourceAPI polls the feed every 2 s: the same token is now refused, 401 invalid_token
sleep 3
$c -si -w '\n' $resource_url/api/greet -H "Authorization: Bearer \$ACCESS"
# --- end of session ---

EOF

if [ "${RUN_LOCAL_ONCE:-0}" = "1" ]; then
    log "RUN_LOCAL_ONCE=1: stopping"
    if stop; then exit 0; fi
    exit 1
fi

log "running; Ctrl-C stops both"
# Returns when either service exits. Ctrl-C reaches the services too (same process group), and
# one may exit 0 before our trap runs: a 0 is a requested stop, anything else a crash.
set +e
wait -n "$issuer_pid" "$resource_pid"
code=$?
set -e
if [ "$code" -eq 0 ]; then
    log "a service stopped; stopping the other one"
    if stop; then
        log "stopped cleanly"
        exit 0
    fi
    exit 1
fi
log "a service exited with status $code; stopping the other one. See $log_dir"
stop || true
exit 1
