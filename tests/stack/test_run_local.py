"""scripts/run-local.sh (what `make run` runs) on free loopback ports with the debug binaries:
the printed curl session works step by step, SIGTERM stops both services cleanly, and a
second run reuses the keys and users without printing the admin password again."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from stack_support import FAST_BCRYPT, REPO, bin_dir, free_port, http, port_closed, which_bash

SCRIPT = REPO / "scripts" / "run-local.sh"
SESSION_START = "# --- curl session ---"
SESSION_END = "# --- end of session ---"


def script_env(home: Path, issuer_port: int, resource_port: int, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ISSUER_", "RESOURCE_API_", "RUN_LOCAL_"))}
    env.update(FAST_BCRYPT)
    env.update({
        "BIN_DIR": str(bin_dir()),
        "RUN_LOCAL_HOME": str(home),
        "RUN_LOCAL_ISSUER_PORT": str(issuer_port),
        "RUN_LOCAL_RESOURCE_PORT": str(resource_port),
    })
    env.update(extra)
    return env


def start_script(env: dict, cwd) -> subprocess.Popen:
    # Its own process group, so a failing test can kill the script and both services at once.
    return subprocess.Popen([str(SCRIPT)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
                            start_new_session=True)


def kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def read_until(process: subprocess.Popen, marker: str, timeout: float = 90.0) -> str:
    """Standard output up to and including the line `marker` (fails if the script dies first)."""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line == "":
            if process.poll() is not None:
                break
            continue
        lines.append(line)
        if line.strip() == marker:
            return "".join(lines)
    kill_group(process)
    raise AssertionError(
        f"run-local.sh did not print {marker!r} (exit {process.poll()}):\n{''.join(lines)}\n{process.stderr.read()}"
    )


def session_of(output: str) -> str:
    start = output.index(SESSION_START)
    end = output.index(SESSION_END) + len(SESSION_END)
    return output[start:end]


def test_run_local_session_then_sigterm_then_second_run(binaries, tmp_path):
    issuer_port, resource_port = free_port(), free_port()
    env = script_env(tmp_path, issuer_port, resource_port)
    process = start_script(env, tmp_path)
    try:
        output = read_until(process, SESSION_END)

        # First run: keys and store created, the admin password printed once.
        assert (tmp_path / "keys" / "keyset.json").is_file(), output
        assert (tmp_path / "data" / "issuer.sqlite").is_file(), output
        match = re.search(r"admin password \(shown once, write it down now\): (\S+)", output)
        assert match, f"no admin password in the first run's output:\n{output}"
        admin_password = match.group(1)

        # Execute the printed session exactly as a user would paste it.
        session = session_of(output)
        assert f"http://127.0.0.1:{issuer_port}/login" in session
        result = subprocess.run([which_bash(), "-c", "set -u\n" + session], capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
        statuses = [int(status) for status in re.findall(r"^HTTP/\S+ (\d{3})", result.stdout, re.MULTILINE)]
        # greet, greet after refresh, logout, greet with the logged-out token
        assert statuses == [200, 200, 204, 401], f"statuses {statuses}:\n{result.stdout}"
        assert result.stdout.count("hi user1!") == 2, result.stdout
        assert 'error="invalid_token"' in result.stdout, result.stdout

        # The admin password printed once really works, with role admin.
        login = http("POST", f"http://127.0.0.1:{issuer_port}/login", {"username": "admin", "password": admin_password})
        assert login.status == 200, login.text
        admin_token = login.json()["access_token"]
        assert http("GET", f"http://127.0.0.1:{resource_port}/api/admin/greet",
                    headers={"Authorization": f"Bearer {admin_token}"}).text == "hi admin admin!"

        # Ctrl-C / SIGTERM: both services stop cleanly, the script exits 0.
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            kill_group(process)
            raise AssertionError("run-local.sh did not stop within 15 s of SIGTERM")
        stderr = process.stderr.read()
        assert code == 0, f"exit {code}:\n{stderr}"
        assert "stopped cleanly" in stderr, stderr
        assert port_closed(issuer_port) and port_closed(resource_port), "a service still listens after the script ended"
    finally:
        kill_group(process)  # stragglers only: after a clean stop the group is empty

    keys_before = sorted(p.name for p in (tmp_path / "keys").glob("*.pem"))
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "data" / "logs").glob("*.log"))
    assert admin_password not in logs, "the admin password reached a log file"

    # Second run (non-interactive): same keys, same users, no password printed again.
    second = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env=script_env(tmp_path, free_port(), free_port(), RUN_LOCAL_ONCE="1"))
    assert second.returncode == 0, f"{second.stdout}\n{second.stderr}"
    assert admin_password not in second.stdout + second.stderr
    assert "admin exists already" in second.stdout
    assert SESSION_END in second.stdout
    assert sorted(p.name for p in (tmp_path / "keys").glob("*.pem")) == keys_before
    users = subprocess.run([binaries["issuer"], "users", "list", "--data", str(tmp_path / "data" / "issuer.sqlite")],
                           capture_output=True, text=True, timeout=30)
    assert sorted(line.split("\t")[0] for line in users.stdout.splitlines()) == ["admin", "user1"], users.stdout


def test_run_local_refuses_a_busy_port(binaries, tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # Something that accepts but is not our stack: the script must stop with a clear message.
        result = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                                env=script_env(tmp_path, port, free_port(), RUN_LOCAL_ONCE="1", RUN_LOCAL_READY_TIMEOUT="5"))
    assert result.returncode != 0, result.stdout
    assert str(port) in result.stderr, result.stderr


def test_ctrl_c_to_the_whole_process_group_stops_both_cleanly(binaries, tmp_path):
    """A terminal's Ctrl-C sends SIGINT to the script and both services at once."""
    issuer_port, resource_port = free_port(), free_port()
    env = script_env(tmp_path, issuer_port, resource_port)
    process = start_script(env, tmp_path)
    try:
        read_until(process, SESSION_END)
        os.killpg(process.pid, signal.SIGINT)
        code = process.wait(timeout=15)
        stderr = process.stderr.read()
        assert code == 0, f"exit {code}:\n{stderr}"
        assert "stopped cleanly" in stderr, stderr
        assert port_closed(issuer_port) and port_closed(resource_port)
    finally:
        kill_group(process)
