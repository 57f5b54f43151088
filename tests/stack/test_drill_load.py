"""The rotation drill under load against several ResourceAPIs: every ResourceAPI reported on its
own, the JSON report checked against docs/drill-report.schema.json, and the --html page opened
in headless Chromium."""

import json
import re
import shutil
import subprocess

import jsonschema
import pytest

from stack_support import REPO, free_port

SCHEMA = json.loads((REPO / "docs" / "drill-report.schema.json").read_text())


def second_resource_api(stack, name="resource-api-2", jwks_url=None, extra=()):
    port = free_port()
    argv = [stack.binaries["resource-api"], "serve", "--host", "127.0.0.1", "--port", str(port), "--issuer-url", stack.issuer_url,
            "--jwks-min-refresh", "1s", *extra]
    if jwks_url:
        argv += ["--jwks-url", jwks_url, "--expected-issuer", stack.issuer_url]
    stack.start_process(name, argv, stack.environment(), f"http://127.0.0.1:{port}/readyz")
    return f"http://127.0.0.1:{port}"


def drill_json(stack, *args):
    result = stack.drill("--json", *args, timeout=120)
    assert result.stdout.strip(), f"no report (exit {result.returncode}):\n{result.stderr}\n{stack.logs()}"
    report = json.loads(result.stdout)
    jsonschema.validate(report, SCHEMA)
    return result, report


def test_planned_rotation_under_load_with_two_resource_apis_loses_nothing(stack, tmp_path):
    stack.start(issuer_args=["--access-ttl", "3s", "--jwks-max-age", "2s"],
                resource_args=["--revocation-poll", "1s", "--jwks-min-refresh", "1s"])
    second = second_resource_api(stack)
    page = tmp_path / "drill.html"
    result, report = drill_json(stack, "--resource-url", second, "--rate", "200", "--settle", "1.5s", "--html", str(page))
    context = f"{json.dumps({k: v for k, v in report.items() if k != 'timeline'}, indent=2)}\n{result.stderr}"
    assert result.returncode == 0, context
    assert report["passed"] is True and report["lost"] == 0 and report["rate"] == 200, context
    urls = [api["url"] for api in report["resource_apis"]]
    assert urls == [stack.resource_url, second], context
    for api in report["resource_apis"]:
        assert api["lost"] == 0 and api["failures_by_kind"] == {}, context
        assert api["first_new_kid_accepted_seconds"] is not None, context
        # Under load: a few hundred requests each, not the dozens of the old 20/s default.
        assert api["accepted"] >= 300, context
    events = {event["event"] for event in report["events"]}
    assert {"rotated", "new_kid_published", "new_kid_first_accepted", "end"} <= events, context
    accepted_at = [e for e in report["events"] if e["event"] == "new_kid_first_accepted"]
    assert sorted(e["resource_url"] for e in accepted_at) == sorted(urls), context
    # The timeline counts add up to what was answered.
    assert sum(row["count"] for row in report["timeline"]["rows"]) == report["requests_accepted"], context
    assert page.is_file() and "<svg" in page.read_text()


def test_forced_rotation_with_a_resource_api_that_cannot_refetch_fails_by_kind(stack):
    """A forced rotation promotes a key no ResourceAPI has cached for long: the one that can
    re-fetch recovers, the one stuck on a frozen JWK Set refuses every new-kid token, and the
    drill names it, counts the failures by kind, and exits 1."""
    from stack_support import FrozenJWKS

    stack.start(issuer_args=["--access-ttl", "1m", "--jwks-max-age", "10m"], resource_args=["--jwks-min-refresh", "1s"])
    with FrozenJWKS(stack.issuer_url) as frozen:
        stuck = second_resource_api(stack, "resource-api-frozen", jwks_url=frozen.url)
        result, report = drill_json(stack, "--resource-url", stuck, "--force", "--settle", "0.5s", "--timeout", "3s")
    context = f"{json.dumps({k: v for k, v in report.items() if k != 'timeline'}, indent=2)}\n{result.stderr}"
    assert result.returncode == 1, context
    assert report["passed"] is False and report["mode"] == "forced", context
    healthy, frozen_api = report["resource_apis"]
    assert healthy.get("first_new_kid_accepted_seconds") is not None, context
    assert frozen_api["url"] == stuck and frozen_api.get("first_new_kid_accepted_seconds") is None, context
    assert frozen_api["lost"] > 0, context
    assert any("signing key is unknown" in kind for kind in frozen_api["failures_by_kind"]), context
    assert any(stuck in problem and "accepted no token of the new kid" in problem for problem in report["problems"]), context


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium on this machine (scripts/stack-tests.sh installs Debian's chromium as root)")


def test_html_page_opens_in_headless_chromium_with_the_events_marked(stack, tmp_path):
    browser = chromium()
    stack.start(issuer_args=["--access-ttl", "3s", "--jwks-max-age", "2s"],
                resource_args=["--revocation-poll", "1s", "--jwks-min-refresh", "1s"])
    page = tmp_path / "drill.html"
    result, report = drill_json(stack, "--rate", "100", "--settle", "0.5s", "--html", str(page))
    assert result.returncode == 0, result.stderr
    # The page as the browser built it (scripts run, markup parsed), from disk, offline.
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert len(re.findall(r"<svg[^>]*class=\"timeline\"", html)) == 1, html[:2000]
    marked = set(re.findall(r"<g class=\"event\" data-event=\"([a-z_]+)\"", html))
    assert {"rotated", "new_kid_published", "new_kid_first_accepted", "end"} <= marked, marked
    bars = re.findall(r"<rect class=\"bin\" data-series=\"([^\"]+)\" data-count=\"(\d+)\"", html)
    assert sum(int(count) for _, count in bars) == report["requests_accepted"], (len(bars), report["requests_accepted"])
    assert {f"accepted {report['old_kid']}", f"accepted {report['new_kid']}"} <= {series for series, _ in bars}
    # Nothing is loaded from elsewhere.
    assert not re.search(r"(src|href)=\"https?://", page.read_text())
    assert "Rotation drill: PASS" in html
