"""The docker-compose topology without Docker: the two services as processes configured by
the compose file's own environment (nothing but environment variables, as in the containers),
with only what cannot work outside containers rewritten:

- `0.0.0.0` listens on 127.0.0.1, and the fixed ports 8081/8082 become free ports;
- the service names `issuer` and `resource-api` become 127.0.0.1; `localhost` stays, so the
  public issuer (`iss`) and the address the ResourceAPI fetches from differ, as behind compose;
- /app/keys and /app/data become a temporary folder;
- for speed only: ISSUER_ACCESS_TTL=3s and ISSUER_JWKS_MAX_AGE=2s, so the drill's planned
  rotation is allowed after 2 s instead of 5 min.

Then the compose healthchecks, a login and greet through the public URL, and the compose
`drill` service's command with its environment."""

import json
import os
import re
import subprocess
import urllib.parse

import yaml

from stack_support import COMPOSE, FAST_BCRYPT, Stack, environment, free_port, http

SPEED_UPS = {"ISSUER_ACCESS_TTL": "3s", "ISSUER_JWKS_MAX_AGE": "2s"}


def interpolate(value: str, variables: dict) -> str:
    """Compose's ${NAME:-default} and ${NAME} forms."""
    def replace(match):
        name, default = match.group(1), match.group(3)
        found = variables.get(name)
        return found if found else (default or "")
    return re.sub(r"\$\{([A-Z0-9_]+)(:-([^}]*))?\}", replace, value)


class ComposeTopology:
    def __init__(self, binaries, home, admin_password):
        self.compose = yaml.safe_load(COMPOSE.read_text())
        self.binaries = binaries
        self.home = home
        self.issuer_port = free_port()
        self.resource_port = free_port()
        self.admin_password = admin_password
        self.variables = {"DRILL_ADMIN_PASSWORD": admin_password}  # what the user exports for compose

    def rewrite(self, value: str) -> str:
        value = interpolate(value, self.variables)
        value = value.replace("0.0.0.0", "127.0.0.1")
        value = value.replace("http://issuer:8081", f"http://127.0.0.1:{self.issuer_port}")
        value = value.replace("http://resource-api:8082", f"http://127.0.0.1:{self.resource_port}")
        value = value.replace("localhost:8081", f"localhost:{self.issuer_port}")
        value = value.replace("127.0.0.1:8081", f"127.0.0.1:{self.issuer_port}")
        value = value.replace("127.0.0.1:8082", f"127.0.0.1:{self.resource_port}")
        value = value.replace("/app/", f"{self.home}/")
        return value

    def service_env(self, name: str, extra=None) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ISSUER_", "RESOURCE_API_", "DRILL_"))}
        env.update(FAST_BCRYPT)
        env.update({key: self.rewrite(value) for key, value in environment(self.compose["services"][name]).items()})
        if name == "issuer":
            env["ISSUER_PORT"] = str(self.issuer_port)
            env.update(SPEED_UPS)
        if name == "resource-api":
            env["RESOURCE_API_PORT"] = str(self.resource_port)
        env.update(extra or {})
        return env

    def argv(self, name: str) -> list:
        command = self.compose["services"][name]["command"]
        return [self.binaries[command[0]], *[self.rewrite(part) for part in command[1:]]]

    def healthcheck_argv(self, name: str) -> list:
        test = self.compose["services"][name]["healthcheck"]["test"]
        assert test[0] == "CMD"
        return [self.binaries[test[1]], *[self.rewrite(part) for part in test[2:]]]


def test_compose_environment_runs_the_pair_and_the_drill(binaries, tmp_path):
    stack = Stack(binaries, tmp_path)  # reused for process bookkeeping and logs
    topology = ComposeTopology(binaries, tmp_path, stack.admin_password)
    issuer_env = topology.service_env("issuer")
    public_issuer = issuer_env["ISSUER_ISSUER_URL"]
    assert public_issuer == f"http://localhost:{topology.issuer_port}"

    # Users, as `docker compose exec issuer issuer users add ...` would add them: same env, no flags.
    for user, password, role in (("user1", "password1", "user"), ("admin", stack.admin_password, "admin")):
        added = subprocess.run([binaries["issuer"], "users", "add", user, "--role", role, "--password-stdin"],
                               input=password + "\n", capture_output=True, text=True, env=issuer_env, cwd=tmp_path, timeout=60)
        assert added.returncode == 0, added.stderr
    assert (tmp_path / "data" / "issuer.sqlite").is_file(), "ISSUER_DATA from the compose file was not used"

    try:
        issuer = stack.start_process("issuer", topology.argv("issuer"), issuer_env, f"http://127.0.0.1:{topology.issuer_port}/readyz")
        assert (tmp_path / "keys" / "keyset.json").is_file(), "ISSUER_KEYS_DIR from the compose file was not used"
        stack.start_process("resource-api", topology.argv("resource-api"), topology.service_env("resource-api"),
                            f"http://127.0.0.1:{topology.resource_port}/readyz")

        # ISSUER_LOG_FORMAT=json: every log line is a JSON object.
        first_line = (tmp_path / "issuer.log").read_text().splitlines()[0]
        assert isinstance(json.loads(first_line), dict), first_line

        # The compose healthchecks pass against the running services.
        for name in ("issuer", "resource-api"):
            probe = subprocess.run(topology.healthcheck_argv(name), capture_output=True, text=True, timeout=30)
            assert probe.returncode == 0, f"{name} healthcheck: {probe.stdout}{probe.stderr}"

        # The ResourceAPI expects the public issuer but fetches keys from the internal address.
        readiness = http("GET", f"http://127.0.0.1:{topology.resource_port}/readyz").json()
        assert readiness.get("issuer") == public_issuer, readiness
        assert urllib.parse.urlsplit(readiness.get("jwks_url", "")).netloc == f"127.0.0.1:{topology.issuer_port}", readiness

        # A client on the host: log in through the public URL, greet.
        login = http("POST", f"{public_issuer}/login", {"username": "user1", "password": "password1"})
        assert login.status == 200, login.text
        token = login.json()["access_token"]
        greet = http("GET", f"http://localhost:{topology.resource_port}/api/greet", headers={"Authorization": f"Bearer {token}"})
        assert (greet.status, greet.text) == (200, "hi user1!"), (greet.status, greet.text, stack.logs())

        # The compose `drill` service: its command and environment, against this topology.
        drill = subprocess.run(topology.argv("drill"), capture_output=True, text=True, env=topology.service_env("drill"),
                               cwd=tmp_path, timeout=90)
        context = f"exit {drill.returncode}\n{drill.stdout}\n{drill.stderr}\n{stack.logs()}"
        print(drill.stdout)  # the report, visible with pytest -s
        assert drill.returncode == 0, context
        assert re.search(r"^\s+lost\s+0$", drill.stdout, re.MULTILINE), context
        assert re.search(r"^\s+result\s+PASS$", drill.stdout, re.MULTILINE), context
    finally:
        codes = stack.stop_all()
    assert codes == {"issuer": 0, "resource-api": 0}, codes
