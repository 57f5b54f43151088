"""deploy/docker-compose.yml and deploy/Dockerfile, checked by parsing (no Docker engine here)."""

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from stack_support import COMPOSE, REPO, environment

DOCKERFILE = REPO / "deploy" / "Dockerfile"

# Every option of the contract's Configuration section, as its environment variable.
CONTRACT_OPTIONS = {
    "ISSUER_": {"HOST", "PORT", "ISSUER_URL", "AUDIENCE", "KEYS_DIR", "DATA", "ACCESS_TTL", "REFRESH_TTL",
                "JWKS_MAX_AGE", "ROTATE_EVERY", "KEY_BITS", "LOG_LEVEL", "LOG_FORMAT", "STORE"},
    "RESOURCE_API_": {"HOST", "PORT", "ISSUER_URL", "JWKS_URL", "EXPECTED_ISSUER", "AUDIENCE", "LEEWAY",
                      "JWKS_MIN_REFRESH", "JWKS_MAX_STALE", "REVOCATION_POLL", "LOG_LEVEL", "LOG_FORMAT"},
}
EXECUTABLES = {"issuer", "resource-api", "rotation-drill"}
# Profile `ha` (issue 9): PostgreSQL, two Issuers, nginx, a ResourceAPI behind the balancer.
HA_SERVICES = {"postgres", "issuer-a", "issuer-b", "balancer", "resource-api-ha"}
THIRD_PARTY = {"postgres", "balancer"}
# Profile `tls` (issue 15): a one-shot certificate service, then the pair on HTTPS.
TLS_SERVICES = {"tls-certificates", "issuer-tls", "resource-api-tls"}
# One-shot helpers on a pinned Debian image, not our executables.
ONE_SHOT = {"tls-certificates"}
# Options beyond the contract's table, added by later issues (TLS: issue 15; connections: issue 17).
CONNECTIONS = {"IDLE_TIMEOUT", "HEADER_TIMEOUT", "MAX_CONNECTIONS"}
EXTRA_OPTIONS = {
    "ISSUER_": {"FAST_PATH", "TRUSTED_PROXY", "TLS_CERT", "TLS_KEY"} | CONNECTIONS,
    "RESOURCE_API_": {"FAST_PATH", "TLS_CERT", "TLS_KEY", "ISSUER_CA_FILE", "ALLOW_HTTP_ISSUER"} | CONNECTIONS,
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def services(compose):
    return compose["services"]


def port_mappings(service: dict) -> list:
    """(host address, host port, container port) of each short-syntax mapping."""
    mappings = []
    for entry in service.get("ports") or []:
        parts = str(entry).split(":")
        assert len(parts) == 3, f"publish ports as ADDRESS:HOST:CONTAINER so they stay on loopback: {entry}"
        mappings.append((parts[0], int(parts[1]), int(parts[2])))
    return mappings


def mounts(service: dict) -> list:
    """(source, target) of each volume entry, short or long syntax."""
    result = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            result.append((entry.get("source"), entry.get("target")))
        else:
            source, target = str(entry).split(":")[:2]
            result.append((source, target))
    return result


def test_services_are_the_issuer_the_resource_api_and_a_drill_under_a_profile(compose):
    assert set(services(compose)) == {"issuer", "resource-api", "drill"} | HA_SERVICES | TLS_SERVICES
    for name in HA_SERVICES:
        assert services(compose)[name].get("profiles") == ["ha"], name
    for name in TLS_SERVICES:
        assert services(compose)[name].get("profiles") == ["tls"], name
    assert "profiles" not in services(compose)["issuer"] and "profiles" not in services(compose)["resource-api"]
    assert services(compose)["drill"].get("profiles") == ["drill"]


def test_every_service_runs_one_of_our_executables_from_the_same_image(compose):
    for name, service in services(compose).items():
        if name in THIRD_PARTY:
            # Pinned official images, never :latest.
            assert re.fullmatch(r"(postgres|nginx):[\d.]+-bookworm", service.get("image", "")), f"{name}: {service.get('image')}"
            continue
        if name in ONE_SHOT:
            assert service.get("image") == "debian:bookworm-slim" and service.get("restart") == "no", name
            continue
        command = service.get("command")
        assert isinstance(command, list) and command[0] in EXECUTABLES, f"{name}: command {command}"
        assert service.get("image") == "jwt-pair:latest", name
        build = service.get("build") or {}
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE, name
    assert services(compose)["issuer"]["command"][0] == "issuer"
    assert services(compose)["resource-api"]["command"][0] == "resource-api"
    assert services(compose)["drill"]["command"][:2] == ["rotation-drill", "run"]


def test_ports_are_8081_and_8082_on_loopback(compose):
    assert port_mappings(services(compose)["issuer"]) == [("127.0.0.1", 8081, 8081)]
    assert port_mappings(services(compose)["resource-api"]) == [("127.0.0.1", 8082, 8082)]
    assert "ports" not in services(compose)["drill"]
    assert environment(services(compose)["issuer"])["ISSUER_PORT"] == "8081"
    assert environment(services(compose)["resource-api"])["RESOURCE_API_PORT"] == "8082"
    # Inside a container the services must listen beyond loopback to be reachable at all.
    assert environment(services(compose)["issuer"])["ISSUER_HOST"] == "0.0.0.0"
    assert environment(services(compose)["resource-api"])["RESOURCE_API_HOST"] == "0.0.0.0"


def test_the_issuer_has_a_keys_volume_and_a_data_volume(compose):
    issuer = services(compose)["issuer"]
    env = environment(issuer)
    by_target = {target: source for source, target in mounts(issuer)}
    keys_volume = by_target.get(env["ISSUER_KEYS_DIR"])
    data_volume = by_target.get(str(Path(env["ISSUER_DATA"]).parent))
    assert keys_volume and data_volume and keys_volume != data_volume, mounts(issuer)
    assert set(compose["volumes"]) >= {keys_volume, data_volume}, "named volumes must be declared at the top level"


def test_only_the_issuer_gets_the_keys_volume(compose):
    issuer = services(compose)["issuer"]
    keys_target = environment(issuer)["ISSUER_KEYS_DIR"]
    keys_volume = dict((target, source) for source, target in mounts(issuer))[keys_target]
    for name, service in services(compose).items():
        if name == "issuer":
            continue
        if name in ("issuer-a", "issuer-b"):
            # The replicas share their own keys volume, never the single Issuer's.
            assert [source for source, target in mounts(service)] == ["issuer-ha-keys"], f"{name}: {mounts(service)}"
            continue
        if name == "issuer-tls":
            # The HTTPS Issuer of profile tls has keys of its own, and the certificates read-only.
            assert [source for source, target in mounts(service)] == ["issuer-tls-keys", "issuer-tls-data", "tls-certificates"], mounts(service)
            continue
        for source, target in mounts(service):
            assert source != keys_volume and "keys" not in source and "keys" not in target, f"{name} mounts {source}:{target}"
        assert "volumes_from" not in service, name
    assert not mounts(services(compose)["resource-api"]), "the ResourceAPI needs no volume at all"


def test_healthchecks_probe_readyz_with_a_binary_of_the_image(compose, binaries):
    for name, port in (("issuer", 8081), ("resource-api", 8082)):
        check = services(compose)[name].get("healthcheck")
        assert check, f"{name} has no healthcheck"
        test = check["test"]
        assert test[0] == "CMD", f"{name}: exec form, no shell in the runtime image: {test}"
        assert test[1] in EXECUTABLES, f"{name}: {test[1]} is not in the image"
        assert f"http://127.0.0.1:{port}/readyz" in test, f"{name}: {test}"
        for key in ("interval", "timeout", "retries", "start_period"):
            assert key in check, f"{name}: healthcheck without {key}"
        # The probe really exists as a subcommand of that executable.
        probe = subprocess.run([binaries[test[1]], *test[2:-1], "--help"], capture_output=True, text=True, timeout=30)
        assert probe.returncode == 0, f"{' '.join(test[1:-1])} --help: {probe.stderr}"


def test_startup_order_waits_for_a_healthy_issuer(compose):
    assert services(compose)["resource-api"]["depends_on"] == {"issuer": {"condition": "service_healthy"}}
    drill = services(compose)["drill"]["depends_on"]
    assert drill == {"issuer": {"condition": "service_healthy"}, "resource-api": {"condition": "service_healthy"}}
    assert "depends_on" not in services(compose)["issuer"]


def test_public_and_internal_issuer_urls(compose):
    issuer, resource = environment(services(compose)["issuer"]), environment(services(compose)["resource-api"])
    assert issuer["ISSUER_ISSUER_URL"] == "http://localhost:8081"
    assert resource["RESOURCE_API_ISSUER_URL"] == "http://issuer:8081"
    assert resource["RESOURCE_API_EXPECTED_ISSUER"] == issuer["ISSUER_ISSUER_URL"]
    drill = environment(services(compose)["drill"])
    assert drill["DRILL_ISSUER_URL"] == "http://issuer:8081"
    assert drill["DRILL_RESOURCE_URL"] == "http://resource-api:8082"


def test_environment_names_exist_in_the_contract(compose, binaries):
    help_text = {
        "issuer": subprocess.run([binaries["issuer"], "serve", "--help"], capture_output=True, text=True, timeout=30).stdout,
        "resource-api": subprocess.run([binaries["resource-api"], "--help"], capture_output=True, text=True, timeout=30).stdout,
        "rotation-drill": subprocess.run([binaries["rotation-drill"], "run", "--help"], capture_output=True, text=True, timeout=30).stdout,
    }
    prefixes = {"issuer": "ISSUER_", "resource-api": "RESOURCE_API_", "rotation-drill": "DRILL_"}
    for name, service in services(compose).items():
        if name in THIRD_PARTY or name in ONE_SHOT:
            continue
        executable = service["command"][0]
        prefix = prefixes[executable]
        for variable in environment(service):
            assert variable.startswith(prefix), f"{name}: {variable} is not a {prefix}* variable"
            if executable in ("issuer", "resource-api"):
                option = variable[len(prefix):]
                assert option in CONTRACT_OPTIONS[prefix] | EXTRA_OPTIONS[prefix], f"{name}: {variable} is not an option of the contract"
            # The executable itself documents the variable (so it reads it).
            assert variable in re.sub(r"\s+", "", help_text[executable]), f"{executable} --help does not mention {variable}"


def test_contract_option_list_matches_the_contract_when_present():
    """The option lists of docs/CONTRACT.md (the repo's own statement of the promise) are the
    options this file checks, and every one is in the executable's --help."""
    contract = REPO / "docs" / "CONTRACT.md"
    assert contract.exists(), "docs/CONTRACT.md is the services' promise; it must be in the repo"
    text = contract.read_text()
    issuer_part = text[text.index("Issuer: `--host`"):text.index("ResourceAPI: `--host`")]
    resource_part = text[text.index("ResourceAPI: `--host`"):text.index("## Issuer endpoints")]
    for prefix, part in (("ISSUER_", issuer_part), ("RESOURCE_API_", resource_part)):
        flags = {flag.upper().replace("-", "_") for flag in re.findall(r"`--([a-z-]+)`", part)}
        expected = CONTRACT_OPTIONS[prefix] | EXTRA_OPTIONS[prefix]
        assert flags == expected, f"{prefix}: docs/CONTRACT.md {sorted(flags)} vs test {sorted(expected)}"


def test_dockerfile_builds_on_swift_bookworm_and_runs_slim_as_non_root():
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.MULTILINE | re.IGNORECASE)
    assert len(stages) == 2, stages
    assert re.fullmatch(r"swift:\$\{SWIFT_VERSION\}-bookworm|swift:6[\d.]*-bookworm", stages[0][0]), stages[0]
    assert re.search(r"^ARG SWIFT_VERSION=6[\d.]*$", text, re.MULTILINE)
    assert stages[1][0] == "debian:bookworm-slim"
    runtime = text[text.index("FROM debian:bookworm-slim"):]
    for package in ("libcurl4", "libssl3", "libsqlite3-0", "ca-certificates"):
        assert re.search(rf"\b{re.escape(package)}\b", runtime), f"runtime stage lacks {package}"
    users = re.findall(r"^USER\s+(\S+)", runtime, re.MULTILINE)
    assert users and not users[-1].startswith(("root", "0")), users
    for executable in EXECUTABLES:
        assert f'"$bin/{executable}"' in text, f"{executable} is not copied into the image"
    assert "COPY --from=build /staging/ /usr/local/bin/" in runtime
    ignore = (REPO / "deploy" / "Dockerfile.dockerignore").read_text().split()
    assert "keys" in ignore and "data" in ignore, "key material must never enter the build context"


# MARK: profile ha (issue 9)


def test_ha_replicas_share_the_database_the_keys_and_the_public_url(compose):
    a, b = environment(services(compose)["issuer-a"]), environment(services(compose)["issuer-b"])
    assert a == b, "the two replicas must be configured alike"
    assert re.fullmatch(r"postgres://issuer:\$\{ISSUER_PG_PASSWORD:-[^}]+\}@postgres:5432/issuer\?sslmode=disable", a["ISSUER_STORE"])
    assert "ISSUER_DATA" not in a
    assert a["ISSUER_ISSUER_URL"] == "http://localhost:8091"
    assert {target for _, target in mounts(services(compose)["issuer-a"])} == {a["ISSUER_KEYS_DIR"]}
    assert mounts(services(compose)["issuer-a"]) == mounts(services(compose)["issuer-b"])
    assert "issuer-ha-keys" in compose["volumes"] and "issuer-pg" in compose["volumes"]
    # Neither replica publishes a port: clients go through the balancer.
    assert "ports" not in services(compose)["issuer-a"] and "ports" not in services(compose)["issuer-b"]
    # B starts after A has created the keys; both wait for a healthy database.
    assert services(compose)["issuer-a"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services(compose)["issuer-b"]["depends_on"]["issuer-a"] == {"condition": "service_healthy"}


def test_ha_postgres_matches_the_store_url(compose):
    postgres = services(compose)["postgres"]
    env = postgres["environment"]
    assert env["POSTGRES_USER"] == "issuer" and env["POSTGRES_DB"] == "issuer"
    assert env["POSTGRES_PASSWORD"] in environment(services(compose)["issuer-a"])["ISSUER_STORE"]
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert "ports" not in postgres, "the database stays inside the compose network"


def test_ha_balancer_fronts_both_replicas_and_the_resource_api_uses_it(compose):
    balancer = services(compose)["balancer"]
    assert port_mappings(balancer) == [("127.0.0.1", 8091, 8080)]
    (source, target), = mounts(balancer)
    assert target == "/etc/nginx/nginx.conf" and balancer["volumes"][0].endswith(":ro")
    conf = (COMPOSE.parent / source).read_text()
    upstream = re.search(r"upstream issuers \{(.*?)\}", conf, re.S).group(1)
    assert re.findall(r"server (\S+?)[ ;]", upstream) == ["issuer-a:8081", "issuer-b:8081"]
    assert re.search(r"listen 8080;", conf) and "proxy_pass http://issuers;" in conf
    # Never re-send a POST that reached a replica (a refresh presented twice is a replay).
    assert "non_idempotent" not in conf
    resource = environment(services(compose)["resource-api-ha"])
    assert resource["RESOURCE_API_ISSUER_URL"] == "http://balancer:8080"
    assert resource["RESOURCE_API_EXPECTED_ISSUER"] == environment(services(compose)["issuer-a"])["ISSUER_ISSUER_URL"]
    assert port_mappings(services(compose)["resource-api-ha"]) == [("127.0.0.1", 8092, 8082)]
    assert not mounts(services(compose)["resource-api-ha"])


def test_ha_replicas_trust_only_the_balancer_for_the_client_address(compose):
    """Behind the balancer every login comes from its address: the replicas read the client from
    X-Forwarded-For, but only from the balancer's fixed address (issue 19)."""
    balancer = services(compose)["balancer"]
    address = balancer["networks"]["ha"]["ipv4_address"]
    subnet = compose["networks"]["ha"]["ipam"]["config"][0]["subnet"]
    import ipaddress

    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
    for name in ("issuer-a", "issuer-b"):
        assert environment(services(compose)[name])["ISSUER_TRUSTED_PROXY"] == f"{address}/32", name
        assert services(compose)[name]["networks"] == ["ha"], name
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in (COMPOSE.parent / "nginx-ha.conf").read_text()
    # The default pair has no proxy in front: it trusts none.
    assert "ISSUER_TRUSTED_PROXY" not in environment(services(compose)["issuer"])


def test_ha_services_stay_out_of_the_default_start(compose):
    # `docker compose up` without a profile starts exactly the single-Issuer pair.
    default = {name for name, service in services(compose).items() if not service.get("profiles")}
    assert default == {"issuer", "resource-api"}
