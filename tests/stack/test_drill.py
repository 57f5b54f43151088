"""The rotation drill against the two-process stack (debug binaries, short TTLs)."""

import json

REVOCATION_POLL = 1.0  # seconds, passed to the ResourceAPI below


def run_drill(stack, *args, env=None):
    result = stack.drill("--json", *args, env=env)
    assert result.stdout.strip(), f"the drill printed no report (exit {result.returncode}):\n{result.stderr}\n{stack.logs()}"
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError as error:
        raise AssertionError(f"the report is not JSON ({error}):\n{result.stdout}\n{result.stderr}") from error
    return result, report


def test_planned_rotation_loses_no_request(stack):
    # jwks-max-age 2 s: the next key created at first start may be promoted after 2 s.
    stack.start(issuer_args=["--access-ttl", "3s", "--jwks-max-age", "2s"],
                resource_args=["--revocation-poll", "1s", "--jwks-min-refresh", "1s"])
    result, report = run_drill(stack, "--settle", "1.5s")
    context = f"{json.dumps(report, indent=2)}\n{result.stderr}"
    assert result.returncode == 0, context
    assert report["passed"] is True, context
    assert report["mode"] == "planned", context
    assert report["lost"] == 0 and report["failures_by_kind"] == {}, context
    assert report.get("old_kid") and report.get("new_kid") and report["old_kid"] != report["new_kid"], context
    assert report.get("first_new_kid_accepted_seconds") is not None, context
    assert report.get("first_new_kid_accepted_seconds") < 5, context
    # Both streams really ran: old-kid tokens were accepted after the rotation too.
    assert report["streams"]["fresh"]["accepted"] >= 20, context
    assert report["streams"]["old"]["accepted"] >= 10, context
    assert report["requests_sent"] == report["requests_accepted"], context
    # The ResourceAPI knew the new kid before it signed anything (it was published as next).
    assert report["new_kid"] in (report["resource_apis"][0].get("kids_before") or []), context


def test_second_planned_rotation_waits_for_the_next_key_to_age(stack):
    # 8 s: room for the first drill (which may itself wait for the first next key to age) to end
    # and the second to start before the fresh next key ages, on a loaded machine too.
    stack.start(issuer_args=["--access-ttl", "3s", "--jwks-max-age", "8s"],
                resource_args=["--revocation-poll", "1s", "--jwks-min-refresh", "1s"])
    first, report = run_drill(stack, "--warmup", "0.2s", "--settle", "0.2s")
    assert first.returncode == 0, first.stdout + first.stderr
    # The fresh next key is younger than jwks-max-age: the Issuer says 409, the drill waits.
    second, report = run_drill(stack, "--warmup", "0.2s", "--settle", "0.5s")
    context = f"{second.stdout}\n{second.stderr}"
    assert second.returncode == 0, context
    assert report["lost"] == 0, context
    assert report["rotation_wait_seconds"] > 0.5, context
    assert "rotation refused for now" in second.stderr, context


def test_emergency_retire_is_refused_within_revocation_poll_plus_one_second(stack):
    # Long TTL and JWKS max-age: only the revocation feed can make the ResourceAPI drop the kid.
    stack.start(issuer_args=["--access-ttl", "10m", "--jwks-max-age", "10m"],
                resource_args=["--revocation-poll", "1s", "--jwks-min-refresh", "1s"])
    result, report = run_drill(
        stack, "--force", "--retire", "--issuer-bin", stack.binaries["issuer"], "--keys-dir", str(stack.keys_dir),
        "--settle", "1s", "--timeout", "15s",
    )
    context = f"{json.dumps(report, indent=2)}\n{result.stderr}"
    assert result.returncode == 0, context
    assert report["passed"] is True, context
    retire = report["retire"]
    assert retire["status"] == "done", context
    assert retire.get("refused_seconds") is not None, context
    # Measured from when `issuer keys retire` returned, i.e. when the retire was on disk.
    after_retire = retire.get("refused_seconds") - retire.get("command_seconds")
    assert after_retire <= REVOCATION_POLL + 1.0, f"refused {after_retire:.3f}s after the retire\n{context}"
    assert retire["accepted_after_refusal"] == 0, context
    assert "invalid_token" in (retire.get("refused_with") or ""), context
    assert not retire["old_token_expired_before_retire"], context
    assert report["old_kid"] not in (report["resource_apis"][0].get("kids_after_retire") or []), context
    # Fresh tokens (the new kid) never stopped working.
    assert report["lost"] == 0, context


def test_retire_without_issuer_binary_is_skipped_with_a_message(stack):
    stack.start(issuer_args=["--access-ttl", "1m", "--jwks-max-age", "1m"], resource_args=["--jwks-min-refresh", "1s"])
    result, report = run_drill(stack, "--force", "--retire", "--warmup", "0.2s", "--settle", "0.2s")
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["retire"]["status"].startswith("skipped"), report
    assert "--issuer-bin" in result.stderr


def test_drill_refuses_to_run_with_a_wrong_admin_password(stack):
    stack.start(issuer_args=["--access-ttl", "1m", "--jwks-max-age", "1m"])
    result = stack.drill(env={"DRILL_ADMIN_PASSWORD": "not-the-password"})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "login as admin refused" in result.stderr and "401" in result.stderr, result.stderr
    assert result.stdout == ""


def test_drill_without_admin_password_names_the_option(binaries):
    import subprocess

    result = subprocess.run([binaries["rotation-drill"], "run"], capture_output=True, text=True, timeout=30,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert result.stderr.splitlines()[0].startswith("rotation-drill: --admin-password: required")


def test_drill_fails_when_the_resource_api_cannot_learn_the_new_key(stack):
    """The drill must be able to fail: a ResourceAPI whose JWK Set (served by a fake endpoint)
    holds only the active key refuses every new-kid token, and the drill says so (exit 1)."""
    from stack_support import FrozenJWKS, free_port

    # Start the Issuer alone first, to freeze its current JWK Set minus the next key.
    stack.start(issuer_args=["--access-ttl", "3s", "--jwks-max-age", "2s"], resource_args=["--jwks-min-refresh", "1s"])
    with FrozenJWKS(stack.issuer_url) as frozen:
        assert len(frozen.all_keys) == 2 and len(frozen.keys) == 1
        # A second ResourceAPI that trusts only the frozen set; the drill runs against it.
        blind_port = free_port()
        stack.start_process(
            "resource-api-frozen",
            [stack.binaries["resource-api"], "--host", "127.0.0.1", "--port", str(blind_port), "--issuer-url", stack.issuer_url,
             "--jwks-url", frozen.url, "--expected-issuer", stack.issuer_url,
             "--jwks-min-refresh", "1s"],
            stack.environment(), f"http://127.0.0.1:{blind_port}/readyz",
        )
        stack.resource_url = f"http://127.0.0.1:{blind_port}"
        result, report = run_drill(stack, "--settle", "0.5s", "--timeout", "3s")
    context = f"{json.dumps(report, indent=2)}\n{result.stderr}"
    assert result.returncode == 1, context
    assert report["passed"] is False and report["lost"] > 0, context
    assert any("signing key is unknown" in kind for kind in report["failures_by_kind"]), context
    assert report.get("first_new_kid_accepted_seconds") is None, context
    assert any("planned rotation lost" in problem for problem in report["problems"]), context
