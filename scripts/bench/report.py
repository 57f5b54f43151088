#!/usr/bin/env python3
"""The table of one `make bench` run: our figures, the anchors', the ratios against the
targets of issue 8 (met / not met), and which windows were disturbed.

usage: report.py [--full] RUN_FILE
  RUN_FILE: the result lines of scripts/bench.sh (prefixed ours. / go. / jwtkit. / micro.)
  --full:   a whole markdown page (machine, date, method, raw window lines) for bench/RESULTS.md
"""
import sys

full = "--full" in sys.argv
path = [a for a in sys.argv[1:] if not a.startswith("--")][0]

data = {}
for line in open(path):
    parts = line.split()
    if not parts:
        continue
    kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    data[parts[0]] = kv


def num(key, field="rps"):
    try:
        return float(data[key][field])
    except (KeyError, ValueError):
        return None


def clean(key):
    """The anchors' rule: the server had its core (>= 95 %) and nothing else ran on it (<= 3 %)."""
    cpu = data.get(key + "_cpu")
    if not cpu:
        return None
    s, b = float(cpu["server_cpu_pct"]), float(cpu["server_core_busy_pct"])
    return s >= 95 and b - s <= 3


def fmt(v, unit=""):
    if v is None:
        return "–"
    if unit == "MB":
        return f"{v:.1f} MB"
    if unit == "us":
        return f"{v:.1f} µs"
    return f"{v:,.0f}"


rows = []  # (figure, ours, go, jwtkit, ratio text, target text, verdict)
results = []


def ratio_row(figure, ours_key, base_key, base_label, target, go_key=None, jk_key=None, cmp=">="):
    ours, base = num(ours_key), num(base_key)
    r = ours / base if ours is not None and base else None
    if r is None:
        verdict = "not measured"
    else:
        verdict = "met" if (r >= target if cmp == ">=" else r <= target) else "NOT met"
    results.append(verdict)
    rows.append((figure, fmt(ours), fmt(num(go_key)) if go_key else "", fmt(num(jk_key)) if jk_key else "",
                 f"{r:.2f}× {base_label}" if r is not None else "–", f"{cmp} {target}×", verdict))


ratio_row("`/api/greet`, one hot token, req/s", "ours.greet_hot", "go.greet", "Go", 2.0, "go.greet", "jwtkit.greet")
ratio_row("`/api/greet`, 10 000 distinct tokens, req/s", "ours.greet_distinct", "go.greet", "Go", 1.5, "go.greet", "jwtkit.greet")
ratio_row("token issuance (`/token` refresh_token), req/s", "ours.issuance_refresh", "go.login", "Go /login", 3.0, "go.login", "jwtkit.login")
ratio_row("`/healthz`, req/s (HTTP-only ceiling)", "ours.healthz", "jwtkit.healthz", "jwt-kit", 1.2, "go.healthz", "jwtkit.healthz")
# Rejections cost no more than acceptances: an expired token (no RSA) at least as fast as a
# full verification; a tampered one (one RSA verify) within noise of it.
ratio_row("expired token refused (401), req/s", "ours.greet_expired", "ours.greet_distinct", "our distinct greet", 1.0,
          "go.greet_expired", "jwtkit.greet_expired")
ratio_row("tampered token refused (401), req/s", "ours.greet_tampered", "ours.greet_distinct", "our distinct greet", 0.9,
          "go.greet_tampered", "jwtkit.greet_tampered")
rows.append(("no Authorization header (401), req/s", fmt(num("ours.greet_noauth")), fmt(num("go.greet_noauth")), "", "", "", "info"))
rows.append(("`/login` (bcrypt cost 10 here; plain-text compare in Go), req/s", fmt(num("ours.login")), fmt(num("go.login")),
             fmt(num("jwtkit.login")), "", "", "info"))

# TLS (scripts/bench-tls.sh, same run): hot greet over HTTPS keep-alive against HTTP, and
# full handshakes per second on one core (a figure, no target).
tls_http, tls_https = num("tls.greet_hot_http"), num("tls.greet_hot_https")
if tls_http and tls_https is not None:
    r = tls_https / tls_http
    verdict = "met" if r >= 0.85 else "NOT met"
    results.append(verdict)
    rows.append(("`/api/greet`, one hot token, HTTPS keep-alive, req/s", fmt(tls_https), "", "", f"{r:.2f}× HTTP ({fmt(tls_http)})",
                 ">= 0.85×", verdict))
for line in open(path):
    if line.startswith("tls.handshakes_per_s="):
        rows.append(("full TLS handshakes (ECDSA P-256, `openssl s_time -new`) per s, one core", line.split("=", 1)[1].strip(), "", "", "", "",
                     "info"))

# RSS of the ResourceAPI after load, and over the soak.
rss = num("ours.rss_after_load", "api_rss_kb")
go_rss = num("go.rss_after_load", "rss_kb")
jk_rss = num("jwtkit.rss_after_load", "api_rss_kb")
mb = lambda kb: kb / 1024 if kb is not None else None
if rss is not None:
    verdict = "met" if rss / 1024 <= 40 else "NOT met"
    results.append(verdict)
    anon, filed = num("ours.rss_after_load", "api_rss_anon_kb"), num("ours.rss_after_load", "api_rss_file_kb")
    split = f" ({mb(anon):.1f} heap + {mb(filed):.1f} mapped files)" if anon is not None and filed is not None else ""
    rows.append(("ResourceAPI RSS after load", fmt(mb(rss), "MB") + split, fmt(mb(go_rss), "MB"), fmt(mb(jk_rss), "MB"), "", "≤ 40 MB", verdict))
before, after = num("ours.rss_soak", "api_rss_kb_before"), num("ours.rss_soak", "api_rss_kb_after")
if before is not None and after is not None:
    growth = (after - before) / 1024
    soak_s = data.get("ours.soak", {}).get("duration_s", "?")
    verdict = "met" if growth <= 2.0 else "NOT met"
    results.append(verdict)
    rows.append((f"ResourceAPI RSS growth over a {float(soak_s):.0f} s soak (distinct tokens)" if soak_s != "?" else "RSS soak",
                 f"{growth:+.1f} MB ({mb(before):.1f} → {mb(after):.1f})", "", "", "", "≤ +2 MB", verdict))

# Micro-benchmarks: ratios to the bare OpenSSL operation in the same run.
for name, full_key, bare_key, target in (("full JWT verify", "micro.verify_full", "micro.verify_bare", 1.3),
                                         ("full JWT sign", "micro.sign_full", "micro.sign_bare", 1.1)):
    f, b = num(full_key, "p50_us"), num(bare_key, "p50_us")
    if f is None or b is None:
        continue
    r = f / b
    verdict = "met" if r <= target else "NOT met"
    results.append(verdict)
    rows.append((f"{name}, µs/op (p50)", f"{f:.1f} µs (bare {b:.1f} µs)", "", "", f"{r:.2f}× bare", f"≤ {target}×", verdict))

rc = data.get("micro.thresholds_check", {}).get("rc")
if rc is not None:
    meaning = {"0": "within thresholds", "4": "improvements only", "2": "REGRESSION"}.get(rc, f"exit {rc}")
    rows.append(("micro-benchmarks vs Benchmarks/Thresholds", meaning, "", "", "", "no regression",
                 "met" if rc in ("0", "4") else "NOT met"))
    results.append("met" if rc in ("0", "4") else "NOT met")

out = []
meta = data.get("meta", {})
if full:
    out += ["# Benchmark results", "",
            f"One full `make bench` run, {meta.get('date', '?')}. Machine: {meta.get('cpu', '?').replace('_', ' ')}, "
            f"{meta.get('cores', '?')} cores, Linux {meta.get('kernel', '?')}, OpenSSL {meta.get('openssl', '?')}; "
            f"Swift {data.get('ours.run', {}).get('swift', '?')}, release build.", "",
            "Method (the anchors' harness): each server pinned to core 0 with `taskset`, wrk (`-t1 -c64`, "
            f"{data.get('ours.run', {}).get('window_s', '10')} s windows) on core 1; the Go seed, our services and the "
            "Hummingbird + jwt-kit anchor measured back to back in this one run; every target is a ratio of "
            "figures from this run.", ""]
out += ["| figure | ours | Go seed | Hummingbird + jwt-kit | ratio | target | result |", "|---|---|---|---|---|---|---|"]
out += ["| " + " | ".join(r) + " |" for r in rows]
met = sum(1 for v in results if v == "met")
out += ["", f"Targets met: {met} of {len(results)}."]

# Windows: clean or disturbed.
windows = []
for key in sorted(k for k in data if k.endswith("_cpu")):
    base = key[: -len("_cpu")]
    c = data[key]
    ok = clean(base)
    windows.append(f"| {base} | {fmt(num(base))} | {c.get('server_cpu_pct')} | {c.get('server_core_busy_pct')} | "
                   f"{c.get('foreign_cpu_pct', '–')} | {c.get('loadavg1', '–')} | {'clean' if ok else 'DISTURBED'} |")
disturbed = [w for w in windows if "DISTURBED" in w]
out += ["", "Windows (clean: server ≥ 95 % of its core and the core ≤ 3 points busier than the server):", "",
        "| window | req/s | server_cpu % | server core busy % | foreign % | load avg | |", "|---|---|---|---|---|---|---|"]
out += windows
if disturbed:
    out += ["", f"{len(disturbed)} window(s) disturbed: another process shared a core, or the server could not use a whole core "
            "(for ours, a request path that waits on something other than CPU also shows here)."]
print("\n".join(out))
