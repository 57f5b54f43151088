"""Starts the real `issuer` and `resource-api` binaries on free loopback ports with
temporary keys/ and data/ directories, and talks to them with plain `requests`.

BIN_DIR (environment) names the directory of the binaries; by default the debug
build's (`swift build --show-bin-path`). Loopback only.

INTEROP_TLS=1 runs both services on HTTPS with a CA made here with `openssl` (the
ResourceAPI verifies the Issuer against it with `--issuer-ca-file`; `requests`, PyJWT,
joserfc and authlib verify through REQUESTS_CA_BUNDLE / SSL_CERT_FILE).
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]

TLS = os.environ.get("INTEROP_TLS") == "1"
SCHEME = "https" if TLS else "http"
_tls_material: dict[str, Path] = {}


def tls_material() -> dict[str, Path]:
    """A CA and a certificate for 127.0.0.1 and localhost (keys 0600), made once per process."""
    if not _tls_material:
        directory = Path(tempfile.mkdtemp(prefix="interop-tls-"))
        os.chmod(directory, 0o700)

        def run(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

        ca, ca_key = directory / "ca.pem", directory / "ca-key.pem"
        cert, key, csr, ext = directory / "server.pem", directory / "server-key.pem", directory / "server.csr", directory / "server.ext"
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(ca_key),
            "-out", str(ca), "-days", "2", "-subj", "/CN=interop CA", "-addext", "basicConstraints=critical,CA:TRUE")
        run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key),
            "-out", str(csr), "-subj", "/CN=localhost")
        ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-days", "2",
            "-extfile", str(ext), "-out", str(cert))
        for private in (ca_key, key):
            os.chmod(private, 0o600)
        # Every Python client of the suite verifies against this CA, and only it.
        os.environ["REQUESTS_CA_BUNDLE"] = str(ca)
        os.environ["SSL_CERT_FILE"] = str(ca)
        _tls_material.update(ca=ca, cert=cert, key=key)
    return _tls_material


def tls_arguments(issuer_ca: bool = False) -> list[str]:
    """The services' TLS options in the HTTPS mode, none otherwise."""
    if not TLS:
        return []
    material = tls_material()
    arguments = ["--tls-cert", str(material["cert"]), "--tls-key", str(material["key"])]
    if issuer_ca:
        arguments += ["--issuer-ca-file", str(material["ca"])]
    return arguments


# The session's demo accounts (conftest.py creates them through the issuer CLI).
USER = ("alice", "alice-password-1")
ADMIN = ("root", "root-password-1")


def bin_dir() -> Path:
    explicit = os.environ.get("BIN_DIR")
    if explicit:
        return Path(explicit)
    out = subprocess.run(
        ["swift", "build", "--show-bin-path"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.strip()
    return Path(out)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {process.returncode} before it was ready")
        try:
            r = requests.get(url, timeout=2)
            if r.status_code == 200:
                return
            last = r.status_code
        except requests.RequestException as error:  # not listening yet
            last = error
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s (last: {last})")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_parts(token: str) -> tuple[dict, dict]:
    header, payload, _ = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload))


@dataclass
class Issuer:
    """One `issuer serve` process over a directory that survives restarts."""

    workdir: Path
    port: int = field(default_factory=free_port)
    access_ttl: str = "5m"
    extra: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"{SCHEME}://127.0.0.1:{self.port}"

    def common(self) -> list[str]:
        return [
            "--keys-dir", str(self.workdir / "keys"),
            "--data", str(self.workdir / "data" / "issuer.sqlite"),
            "--bcrypt-cost", "4",
        ]

    def cli(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        # Subcommand first, then its arguments, then the shared options.
        return subprocess.run(
            [str(bin_dir() / "issuer"), *args, *self.common()],
            input=stdin, capture_output=True, text=True, check=check, timeout=60,
        )

    def add_user(self, name: str, password: str, roles: tuple[str, ...] = ("user",)) -> None:
        role_args = [arg for role in roles for arg in ("--role", role)]
        self.cli("users", "add", name, *role_args, "--password-stdin", stdin=password + "\n")

    def add_client(self, client_id: str, scopes: tuple[str, ...] = ("api",)) -> str:
        scope_args = [arg for scope in scopes for arg in ("--scope", scope)]
        out = self.cli("clients", "add", client_id, *scope_args).stdout
        match = re.search(r"secret \(shown once\): (\S+)", out)
        if not match:
            raise RuntimeError(f"no secret in: {out!r}")
        return match.group(1)

    def start(self) -> "Issuer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"issuer-{self.port}.log"
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [
                str(bin_dir() / "issuer"), "serve",
                "--host", "127.0.0.1", "--port", str(self.port), "--issuer-url", self.url,
                "--access-ttl", self.access_ttl, "--jwks-max-age", "60", *self.common(), *tls_arguments(), *self.extra,
            ],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        )
        log.close()
        wait_ready(self.url + "/readyz", process=self.process)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=5)

    def login(self, username: str, password: str) -> dict:
        r = requests.post(self.url + "/login", json={"username": username, "password": password}, timeout=10)
        r.raise_for_status()
        return r.json()

    def refresh(self, refresh_token: str) -> requests.Response:
        return requests.post(self.url + "/refresh", json={"refresh_token": refresh_token}, timeout=10)


@dataclass
class ResourceAPI:
    issuer_url: str
    workdir: Path
    port: int = field(default_factory=free_port)
    extra: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"{SCHEME}://127.0.0.1:{self.port}"

    def start(self) -> "ResourceAPI":
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / f"resource-api-{self.port}.log", "ab")
        self.process = subprocess.Popen(
            [
                str(bin_dir() / "resource-api"),
                "--host", "127.0.0.1", "--port", str(self.port), "--issuer-url", self.issuer_url,
                "--revocation-poll", "1s", "--jwks-min-refresh", "1s",
                *tls_arguments(issuer_ca=self.issuer_url.startswith("https:")), *self.extra,
            ],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        )
        log.close()
        wait_ready(self.url + "/readyz", process=self.process)
        return self

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=5)

    def greet(self, token: str, scheme: str = "Bearer") -> requests.Response:
        return requests.get(self.url + "/api/greet", headers={"Authorization": f"{scheme} {token}"}, timeout=10)


class JWKSServer:
    """A loopback JWK Set server (Python http.server) standing in for an Issuer nobody
    here wrote: serves `/jwks.json` and an empty `/revocations` feed, counts requests."""

    def __init__(self, jwks: dict):
        self.jwks = jwks
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                outer.requests.append(self.path)
                if self.path.startswith("/jwks.json"):
                    body = json.dumps(outer.jwks).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/jwk-set+json")
                    self.send_header("Cache-Control", "public, max-age=5")
                elif self.path.startswith("/revocations"):
                    body = json.dumps({"cursor": 0, "revoked": [], "retired_kids": []}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                else:
                    body = b'{"error":"not_found"}'
                    self.send_response(404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "JWKSServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def temp_workdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
