"""Helpers for the stack tests: the built binaries, free loopback ports, and the
two-process stack (an Issuer and a ResourceAPI as real processes on 127.0.0.1).

Run through `make test` (scripts/stack-tests.sh), or directly:
    BIN_DIR=.build/debug python3 -m pytest -q tests/stack
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

COMPOSE = REPO / "deploy" / "docker-compose.yml"

# Fast password hashing for test users (a hidden knob of the issuer; 10+ outside tests).
FAST_BCRYPT = {"ISSUER_BCRYPT_COST": "4"}


def bin_dir() -> Path:
    configured = os.environ.get("BIN_DIR")
    path = Path(configured) if configured else REPO / ".build" / "debug"
    return path.resolve()


def free_port() -> int:
    """A port the OS just handed out on 127.0.0.1 (closed again: the service binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_closed(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) != 0


class Response:
    def __init__(self, status: int, headers, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def http(method: str, url: str, body=None, headers=None, timeout=5.0) -> Response:
    """One request; any status is a Response (urllib raises on 4xx/5xx, we do not)."""
    data = None
    headers = dict(headers or {})
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        data = body.encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Response(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Response(error.code, error.headers, error.read())


def wait_ready(url: str, process: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args[0]} exited with {process.returncode} before {url} was ready:\n{tail(log)}")
        try:
            if http("GET", url, timeout=1).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} not ready after {timeout}s:\n{tail(log)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(process: subprocess.Popen, name: str, log: Path, timeout: float = 10.0) -> int:
    """SIGTERM, then the contract's 10 s for a clean exit; SIGKILL (and a failure) past that."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f"{name} did not stop within {timeout}s of SIGTERM:\n{tail(log)}")
    return process.returncode


class Stack:
    """An Issuer and a ResourceAPI started as processes, in a temporary folder."""

    def __init__(self, binaries: dict, home: Path):
        self.binaries = binaries
        self.home = home
        self.processes = []  # (name, Popen, log)
        self.issuer_port = free_port()
        self.resource_port = free_port()
        self.issuer_url = f"http://127.0.0.1:{self.issuer_port}"
        self.resource_url = f"http://127.0.0.1:{self.resource_port}"
        self.keys_dir = home / "keys"
        self.database = home / "data" / "issuer.sqlite"
        self.admin_password = "admin-" + os.urandom(6).hex()

    # The issuer CLI and server share these.
    def issuer_common(self) -> list:
        return ["--keys-dir", str(self.keys_dir), "--data", str(self.database), "--issuer-url", self.issuer_url]

    def environment(self, extra=None) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ISSUER_", "RESOURCE_API_", "DRILL_"))}
        env.update(FAST_BCRYPT)
        env.update(extra or {})
        return env

    def add_users(self, env=None) -> None:
        for name, password, role in (("user1", "password1", "user"), ("admin", self.admin_password, "admin")):
            result = subprocess.run(
                [self.binaries["issuer"], "users", "add", name, "--role", role, "--password-stdin", *self.issuer_common()],
                input=password + "\n", capture_output=True, text=True, env=self.environment(env), cwd=self.home, timeout=60,
            )
            assert result.returncode == 0, f"issuer users add {name}: {result.stderr}"

    def start_process(self, name: str, argv: list, env: dict, ready_url: str) -> subprocess.Popen:
        log = self.home / f"{name}.log"
        handle = open(log, "ab")
        process = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=self.home)
        handle.close()
        self.processes.append((name, process, log))
        wait_ready(ready_url, process, log)
        return process

    def start(self, issuer_args=(), resource_args=(), env=None) -> "Stack":
        self.add_users(env)
        self.start_process(
            "issuer",
            [self.binaries["issuer"], "serve", "--host", "127.0.0.1", "--port", str(self.issuer_port), *self.issuer_common(), *issuer_args],
            self.environment(env), self.issuer_url + "/readyz",
        )
        self.start_process(
            "resource-api",
            [self.binaries["resource-api"], "serve", "--host", "127.0.0.1", "--port", str(self.resource_port),
             "--issuer-url", self.issuer_url, *resource_args],
            self.environment(env), self.resource_url + "/readyz",
        )
        return self

    def stop_all(self) -> dict:
        codes = {}
        for name, process, log in reversed(self.processes):
            codes[name] = stop(process, name, log)
        self.processes = []
        return codes

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{tail(log)}" for name, _, log in self.processes)

    def drill(self, *args, env=None, timeout=90) -> subprocess.CompletedProcess:
        drill_env = self.environment({"DRILL_ADMIN_PASSWORD": self.admin_password, **(env or {})})
        return subprocess.run(
            [self.binaries["rotation-drill"], "run", "--issuer-url", self.issuer_url, "--resource-url", self.resource_url, *args],
            capture_output=True, text=True, env=drill_env, cwd=self.home, timeout=timeout,
        )


def which_bash() -> str:
    path = shutil.which("bash")
    assert path, "bash is needed to run the printed curl session"
    return path


def environment(service: dict) -> dict:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the KEY=value list form
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


class FrozenJWKS:
    """A JWK Set endpoint that serves the Issuer's set as it is now with only the active key,
    forever: a ResourceAPI fed from it can never learn a new kid. Use as a context manager;
    `url` is the set's address."""

    def __init__(self, issuer_url: str):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        active_kid = http("GET", issuer_url + "/readyz").json()["active_kid"]
        self.all_keys = http("GET", issuer_url + "/.well-known/jwks.json").json()["keys"]
        body = json.dumps({"keys": [key for key in self.all_keys if key["kid"] == active_kid]}).encode()
        self.keys = json.loads(body)["keys"]

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "public, max-age=60")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> "FrozenJWKS":
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
