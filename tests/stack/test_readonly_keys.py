"""A keys/ directory the Issuer cannot write (a mounted secret) is served read-only (issue 19):
it starts, signs and publishes what is there, reloads it on change, logs once that it cannot
rotate, answers POST /admin/keys/rotate with 409 saying why, and refuses --rotate-every (exit 2).

Root ignores file modes, so the Issuer runs as the unprivileged user `nobody` here; the test
skips, saying why, where no such user exists or it cannot switch to one."""

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from stack_support import FAST_BCRYPT, free_port, http, stop, tail, wait_ready

ADMIN_PASSWORD = "admin-readonly-password"


def unprivileged_user():
    if os.geteuid() != 0:
        pytest.skip("needs root to hand the files to an unprivileged user (running as uid %d)" % os.geteuid())
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' on this machine to run the Issuer as")


def hand_over(path: Path, user, directory_mode: int, file_mode: int) -> None:
    """`path` and everything in it to `user`, with the given modes."""
    for root, directories, files in os.walk(path):
        os.chown(root, user.pw_uid, user.pw_gid)
        os.chmod(root, directory_mode)
        for name in files:
            os.chown(os.path.join(root, name), user.pw_uid, user.pw_gid)
            os.chmod(os.path.join(root, name), file_mode)


def env() -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ISSUER_", "RESOURCE_API_", "DRILL_"))}
    base.update(FAST_BCRYPT)
    return base


@pytest.fixture
def readonly_home(binaries):
    user = unprivileged_user()
    home = Path(tempfile.mkdtemp(prefix="issuer-readonly-"))
    os.chmod(home, 0o755)
    # The binary must be reachable by that user: a copy in the test folder when its own
    # folder is not (the debug build may sit under a private home).
    issuer = binaries["issuer"]
    probe = subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", issuer, "--version"],
                           capture_output=True, text=True, timeout=30) if shutil.which("setpriv") else None
    if probe is None or probe.returncode != 0:
        copy = home / "issuer"
        shutil.copy2(issuer, copy)
        os.chmod(copy, 0o755)
        issuer = str(copy)
    keys, data = home / "keys", home / "data"
    common = ["--keys-dir", str(keys), "--data", str(data / "issuer.sqlite")]
    # Keys and users made as root, as a secret store or an operator would, then handed over.
    for name, password, role in (("user1", "password1", "user"), ("admin", ADMIN_PASSWORD, "admin")):
        result = subprocess.run([issuer, "users", "add", name, "--role", role, "--password-stdin", *common],
                                input=password + "\n", capture_output=True, text=True, env=env(), timeout=60)
        assert result.returncode == 0, result.stderr
    result = subprocess.run([issuer, "keys", "list", *common], capture_output=True, text=True, env=env(), timeout=60)
    assert result.returncode == 0, result.stderr
    hand_over(keys, user, 0o500, 0o400)  # readable, not writable: a mounted secret
    hand_over(data, user, 0o700, 0o600)
    yield {"home": home, "issuer": issuer, "user": user, "common": common, "keys": keys}
    shutil.rmtree(home, ignore_errors=True)


def start_as(setup, *extra):
    port = free_port()
    log = setup["home"] / f"issuer-{port}.log"
    handle = open(log, "ab")
    user = setup["user"]
    process = subprocess.Popen(
        [setup["issuer"], "serve", "--host", "127.0.0.1", "--port", str(port), *setup["common"], *extra],
        stdout=handle, stderr=subprocess.STDOUT, env=env(), cwd=setup["home"],
        user=user.pw_uid, group=user.pw_gid, extra_groups=[],
    )
    handle.close()
    return process, f"http://127.0.0.1:{port}", log


def test_readonly_keys_are_served_and_rotation_is_refused(readonly_home):
    setup = readonly_home
    process, url, log = start_as(setup)
    try:
        wait_ready(url + "/readyz", process, log)
        assert http("GET", url + "/readyz").json()["status"] == "ready"
        text = log.read_text(errors="replace")
        assert text.count("serving its keys as they are") == 1, text

        # It signs and publishes what is there.
        jwks = http("GET", url + "/.well-known/jwks.json").json()
        kids = {key["kid"] for key in jwks["keys"]}
        assert len(kids) == 2
        login = http("POST", url + "/login", body={"username": "user1", "password": "password1"})
        assert login.status == 200, login.text
        admin = http("POST", url + "/login", body={"username": "admin", "password": ADMIN_PASSWORD}).json()["access_token"]

        # A rotation is refused with 409, saying why; the next request still works.
        refused = http("POST", url + "/admin/keys/rotate?force=true", headers={"Authorization": "Bearer " + admin})
        assert refused.status == 409, refused.text
        assert refused.headers["Content-Type"] == "application/json"
        assert refused.json()["error"] == "keys_read_only"
        assert "read-only" in refused.json()["error_description"]
        assert http("GET", url + "/admin/keys", headers={"Authorization": "Bearer " + admin}).status == 200

        # The secret changes (a rotation done where the keys are written): reloaded, no restart.
        os.chmod(setup["keys"], 0o700)
        rotated = subprocess.run([setup["issuer"], "keys", "rotate", "--force", *setup["common"]],
                                 capture_output=True, text=True, env=env(), timeout=60)
        assert rotated.returncode == 0, rotated.stderr
        hand_over(setup["keys"], setup["user"], 0o500, 0o400)
        deadline = time.monotonic() + 15
        new_kids = kids
        while time.monotonic() < deadline and new_kids == kids:
            time.sleep(0.5)
            new_kids = {key["kid"] for key in http("GET", url + "/.well-known/jwks.json").json()["keys"]}
        assert new_kids != kids and len(new_kids) == 3, (kids, new_kids, tail(log))
        assert http("POST", url + "/login", body={"username": "user1", "password": "password1"}).status == 200
        # Logged once, not at every reload.
        assert log.read_text(errors="replace").count("serving its keys as they are") == 1
    finally:
        assert stop(process, "issuer", log) == 0, tail(log)


def test_readonly_keys_refuse_rotate_every_at_start(readonly_home):
    process, url, log = start_as(readonly_home, "--rotate-every", "30d")
    try:
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    text = log.read_text(errors="replace")
    assert code == 2, text
    assert "--rotate-every" in text and "read-only" in text, text
