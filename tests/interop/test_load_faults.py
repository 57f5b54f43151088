"""Bounded loopback load on greet and on token issuance (zero 5xx, RSS bounded after
load), and the Issuer killed with SIGKILL during a burst of logins, refreshes and
logouts, then restarted: it starts, and no user, key, refresh token or revocation it
acknowledged is lost or corrupted.

LOAD_SECONDS (default 3) is the length of each load run; KILL_CYCLES (default 1) the
number of kill/restart cycles. `make soak` raises both. wrk drives the load when it is
installed (scripts/python-env.sh installs it as root); otherwise a Python client does.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import threading
import time
from collections import Counter
from http.client import HTTPConnection
from pathlib import Path

import jwt as pyjwt
import pytest
import requests

from interop_stack import Issuer, ResourceAPI, jwt_parts, rss_kib, temp_workdir

LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "3"))
KILL_CYCLES = int(os.environ.get("KILL_CYCLES", "1"))
USERS = [(f"load{i}", f"load-password-{i}") for i in range(4)]


@pytest.fixture(scope="module")
def load_stack():
    workdir = temp_workdir("load-")
    issuer = Issuer(workdir / "issuer")
    for name, password in USERS:
        issuer.add_user(name, password)
    issuer.secret = issuer.add_client("load-client", scopes=("api",))
    issuer.start()
    api = ResourceAPI(issuer.url, workdir / "api").start()
    yield issuer, api, workdir
    assert api.stop() == 0
    assert issuer.stop() == 0
    shutil.rmtree(workdir, ignore_errors=True)


# MARK: load generators


def wrk(url: str, seconds: float, headers: dict[str, str], script: str | None, workdir: Path) -> dict:
    command = ["wrk", "-t2", "-c16", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "5s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if script:
        path = workdir / "wrk.lua"
        path.write_text(script)
        command += ["-s", str(path)]
    out = subprocess.run(command + [url], capture_output=True, text=True, timeout=seconds + 60).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    p99 = re.search(r"99%\s+(\S+)", out)
    return {
        "tool": "wrk",
        "requests": total,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "bad_status": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
        "p99": p99.group(1) if p99 else "?",
        "raw": out,
    }


def python_load(url: str, seconds: float, method: str, headers: dict[str, str], body: bytes | None, threads: int = 8) -> dict:
    statuses: Counter = Counter()
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1]

    def worker():
        connection = HTTPConnection(host, int(port), timeout=5)
        local: Counter = Counter()
        failures = 0
        while time.monotonic() < deadline:
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                local[response.status] += 1
            except OSError:
                failures += 1
                connection.close()
                connection = HTTPConnection(host, int(port), timeout=5)
        connection.close()
        with lock:
            statuses.update(local)
            errors[0] += failures

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    started = time.monotonic()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    total = sum(statuses.values())
    return {
        "tool": "python",
        "requests": total,
        "rps": total / (time.monotonic() - started),
        "bad_status": total - statuses[200],
        "server_errors": sum(count for status, count in statuses.items() if status >= 500),
        "socket_errors": errors[0],
        "statuses": dict(statuses),
    }


def run_load(url, seconds, headers, workdir, method="GET", body=None):
    if shutil.which("wrk"):
        script = None
        if method == "POST":
            lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body.decode())}"]
            script = "\n".join(lines) + "\n"
        return wrk(url, seconds, headers, script, workdir)
    return python_load(url, seconds, method, headers, body)


def report(name: str, result: dict, rss_before: int, rss_after: int) -> None:
    print(
        f"\nLOAD {name}: {result['requests']} requests in {LOAD_SECONDS:.0f}s with {result['tool']}, "
        f"{result['rps']:.0f} req/s, non-200 {result['bad_status']}, socket errors {result['socket_errors']}, "
        f"RSS {rss_before // 1024} MiB -> {rss_after // 1024} MiB"
    )


# MARK: load


def test_greet_under_load_zero_errors_and_bounded_rss(load_stack):
    issuer, api, workdir = load_stack
    token = issuer.login(*USERS[0])["access_token"]
    assert api.greet(token).status_code == 200
    rss = [rss_kib(api.process.pid)]
    results = []
    for _ in range(2):  # the second run must not grow memory much beyond the first
        result = run_load(api.url + "/api/greet", LOAD_SECONDS, {"Authorization": f"Bearer {token}"}, workdir)
        results.append(result)
        rss.append(rss_kib(api.process.pid))
        report("greet", result, rss[-2], rss[-1])
        assert result["requests"] > 0
        assert result["bad_status"] == 0, result.get("raw", result)
        assert result["socket_errors"] == 0, result.get("raw", result)
    assert rss[2] < 512 * 1024, f"resource-api RSS {rss[2]} KiB after load"
    assert rss[2] - rss[1] < max(32 * 1024, rss[1] // 4), f"resource-api RSS kept growing: {rss}"
    # Still answering, and the bad path too.
    assert api.greet(token).status_code == 200
    assert api.greet("x.y.z").status_code == 401


def test_client_credentials_issuance_under_load(load_stack):
    issuer, api, workdir = load_stack
    basic = base64.b64encode(f"load-client:{issuer.secret}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"}
    rss = [rss_kib(issuer.process.pid)]
    for _ in range(2):
        result = run_load(issuer.url + "/token", LOAD_SECONDS, headers, workdir, method="POST", body=b"grant_type=client_credentials")
        rss.append(rss_kib(issuer.process.pid))
        report("token client_credentials", result, rss[-2], rss[-1])
        assert result["requests"] > 0
        assert result["bad_status"] == 0, result.get("raw", result)
        assert result["socket_errors"] == 0, result.get("raw", result)
    assert rss[2] < 512 * 1024
    assert rss[2] - rss[1] < max(32 * 1024, rss[1] // 4), f"issuer RSS kept growing: {rss}"


def test_refresh_rotation_under_load(load_stack):
    """Token issuance through refresh_token: each chain rotates its own token as fast as it can."""
    issuer, _, _ = load_stack
    statuses: Counter = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + LOAD_SECONDS

    def chain(user):
        refresh_token = issuer.login(*user)["refresh_token"]
        session = requests.Session()
        local: Counter = Counter()
        while time.monotonic() < deadline:
            r = session.post(issuer.url + "/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}, timeout=10)
            local[r.status_code] += 1
            if r.status_code != 200:
                break
            refresh_token = r.json()["refresh_token"]
        with lock:
            statuses.update(local)

    before = rss_kib(issuer.process.pid)
    started = time.monotonic()
    threads = [threading.Thread(target=chain, args=(USERS[i % len(USERS)],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    total = sum(statuses.values())
    print(f"\nLOAD token refresh_token: {total} rotations in {elapsed:.1f}s, {total / elapsed:.0f}/s, statuses {dict(statuses)}, "
          f"RSS {before // 1024} -> {rss_kib(issuer.process.pid) // 1024} MiB")
    assert total > 0
    assert set(statuses) == {200}, statuses


# MARK: SIGKILL during a burst


class Burst:
    """Logins, refresh chains and logouts against the Issuer until it dies; remembers
    exactly what the Issuer acknowledged."""

    def __init__(self, issuer: Issuer):
        self.issuer = issuer
        self.stop = threading.Event()
        self.lock = threading.Lock()
        # Per chain: the last refresh token the Issuer acknowledged, and whether a
        # rotation of it was in flight when the Issuer died (then it may be used).
        self.chains: list[dict] = []
        self.revoked_jtis: list[tuple[str, int]] = []
        self.acknowledged = Counter()

    def refresh_chain(self, user):
        try:
            tokens = self.issuer.login(*user)
        except requests.RequestException:
            return
        state = {"refresh_token": tokens["refresh_token"], "in_flight": False, "user": user[0]}
        with self.lock:
            self.chains.append(state)
        while not self.stop.is_set():
            state["in_flight"] = True
            try:
                r = requests.post(self.issuer.url + "/refresh", json={"refresh_token": state["refresh_token"]}, timeout=5)
            except requests.RequestException:
                return  # died mid-request: in_flight stays True
            if r.status_code != 200:
                state["error"] = r.status_code
                return
            state["refresh_token"] = r.json()["refresh_token"]
            state["in_flight"] = False
            with self.lock:
                self.acknowledged["refresh"] += 1

    def login_logout(self, user):
        while not self.stop.is_set():
            try:
                tokens = self.issuer.login(*user)
                with self.lock:
                    self.acknowledged["login"] += 1
                r = requests.post(self.issuer.url + "/logout", headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=5)
            except requests.RequestException:
                return
            if r.status_code == 204:
                claims = jwt_parts(tokens["access_token"])[1]
                with self.lock:
                    self.revoked_jtis.append((claims["jti"], claims["exp"]))
                    self.acknowledged["logout"] += 1


def snapshot_keys(issuer: Issuer) -> tuple[bytes, set[str], dict]:
    keyset = (issuer.workdir / "keys" / "keyset.json").read_bytes()
    jwks = requests.get(issuer.url + "/.well-known/jwks.json", timeout=5).json()
    return keyset, {key["kid"] for key in jwks["keys"]}, jwks


def test_sigkill_during_burst_loses_nothing(tmp_path):
    workdir = temp_workdir("kill-")
    issuer = Issuer(workdir / "issuer")
    try:
        for name, password in USERS:
            issuer.add_user(name, password)
        issuer.start()

        # State from before the burst that must survive every kill.
        keep = issuer.login(*USERS[0])
        logged_out = issuer.login(*USERS[1])
        assert requests.post(issuer.url + "/logout", headers={"Authorization": f"Bearer {logged_out['access_token']}"}, timeout=5).status_code == 204
        revoked_refresh = issuer.login(*USERS[2])["refresh_token"]
        assert requests.post(issuer.url + "/revoke", data={"token": revoked_refresh}, timeout=5).status_code == 200
        keyset_before, kids_before, jwks_before = snapshot_keys(issuer)
        old_access = keep["access_token"]

        for cycle in range(KILL_CYCLES):
            burst = Burst(issuer)
            threads = [threading.Thread(target=burst.refresh_chain, args=(USERS[i % 4],)) for i in range(6)]
            threads += [threading.Thread(target=burst.login_logout, args=(USERS[i % 4],)) for i in range(2)]
            for thread in threads:
                thread.start()
            time.sleep(1.0 + 0.37 * cycle)
            issuer.process.send_signal(signal.SIGKILL)
            issuer.process.wait(timeout=10)
            burst.stop.set()
            for thread in threads:
                thread.join(timeout=10)
            assert issuer.process.returncode == -signal.SIGKILL
            assert burst.acknowledged["refresh"] > 0, "the burst never got going"
            print(f"\nKILL cycle {cycle + 1}: SIGKILL after {dict(burst.acknowledged)} acknowledged operations")

            # It starts again.
            started = time.monotonic()
            issuer.start()
            print(f"KILL cycle {cycle + 1}: ready again {time.monotonic() - started:.2f}s after restart")

            # Users.
            listed = issuer.cli("users", "list").stdout
            for name, password in USERS:
                assert name in listed
                assert issuer.login(name, password)["access_token"]

            # Keys: same key set, same files, still 0600, old tokens still verify.
            keyset_after, kids_after, jwks_after = snapshot_keys(issuer)
            assert keyset_after == keyset_before, "keyset.json changed across the kill"
            assert kids_after == kids_before
            json.loads(keyset_after)
            for kid in kids_after:
                mode = (issuer.workdir / "keys" / f"key-{kid}.pem").stat().st_mode
                assert stat.S_IMODE(mode) == 0o600
            key = pyjwt.PyJWKSet.from_dict(jwks_after)[jwt_parts(old_access)[0]["kid"]].key
            pyjwt.decode(old_access, key, algorithms=["RS256"], audience="resource-api", issuer=issuer.url)

            # Revocations: the one from before and every acknowledged logout of the burst.
            feed = requests.get(issuer.url + "/revocations", timeout=5).json()
            revoked = {entry["jti"] for entry in feed["revoked"]}
            assert jwt_parts(logged_out["access_token"])[1]["jti"] in revoked
            missing = [jti for jti, _ in burst.revoked_jtis if jti not in revoked]
            assert not missing, f"{len(missing)} acknowledged logouts lost"

            # Refresh tokens: revoked stays revoked; every acknowledged one still works, except
            # that one whose rotation was in flight may have been committed ("already used").
            r = issuer.refresh(revoked_refresh)
            assert r.status_code == 401 and r.json()["error"] == "invalid_grant"
            lost = []
            for chain in burst.chains:
                if "error" in chain:
                    continue
                r = issuer.refresh(chain["refresh_token"])
                if r.status_code == 200:
                    continue
                if chain["in_flight"] and "already used" in r.json().get("error_description", ""):
                    continue
                lost.append((chain["user"], chain["in_flight"], r.status_code, r.text))
            assert not lost, f"acknowledged refresh tokens lost or corrupted: {lost}"
            assert not [c for c in burst.chains if "error" in c], "a refresh failed before the kill"

        # The one kept from before every burst.
        r = issuer.refresh(keep["refresh_token"])
        assert r.status_code == 200, r.text
    finally:
        issuer.stop()
    # The database is whole.
    with sqlite3.connect(issuer.workdir / "data" / "issuer.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    shutil.rmtree(workdir, ignore_errors=True)


# MARK: slow and abusive clients


def test_slow_clients_do_not_stop_others(load_stack):
    """Hundreds of connections that never finish their headers (or their body) must not
    make either service stop answering a well-behaved client."""
    import socket

    issuer, api, _ = load_stack
    token = issuer.login(*USERS[0])["access_token"]
    held = []
    try:
        for base, partial in [
            (api, b"GET /api/greet HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "),
            (issuer, b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{\"user"),
        ]:
            for _ in range(150):
                connection = socket.create_connection(("127.0.0.1", base.port), timeout=5)
                connection.sendall(partial)
                held.append(connection)
        started = time.monotonic()
        assert api.greet(token).status_code == 200
        assert issuer.login(*USERS[1])["access_token"]
        elapsed = time.monotonic() - started
        print(f"\nSLOW CLIENTS: {len(held)} stalled connections held; a normal greet + login took {elapsed * 1000:.0f} ms")
        assert elapsed < 3.0
    finally:
        for connection in held:
            connection.close()
    assert api.greet(token).status_code == 200
