#!/usr/bin/env python3
"""p50 wall-clock of the micro-benchmarks that the issue's ratios need, from the jmh
export of scripts/microbench.sh --results DIR.  Prints one line per benchmark:
  verify_bare p50_us=..   verify_full p50_us=..   sign_bare ..   sign_full ..
and one line per other benchmark (name with spaces as underscores), for the record.
jmh export: the wall clock histogram is in ns per outer iteration, scaled to µs by the
exporter; the RSA benchmarks run one operation per iteration, so that is µs per op; the
others run 1000 per iteration, so the same number is ns per op."""
import glob, json, os, sys

KEYS = {"RS256_verify_bare": "verify_bare", "RS256_verify_full": "verify_full",
        "RS256_sign_bare": "sign_bare", "RS256_sign_full": "sign_full"}
folder = sys.argv[1]
for path in sorted(glob.glob(os.path.join(folder, "**", "*.json"), recursive=True)):
    try:
        elements = json.load(open(path))
    except (OSError, ValueError):
        continue
    for element in elements if isinstance(elements, list) else []:
        name = element.get("benchmark", "").split(".", 3)[-1]
        wall = element.get("secondaryMetrics", {}).get("Time (wall clock)")
        if not wall:
            continue
        p50 = wall.get("scorePercentiles", {}).get("50.0")
        key = next((v for k, v in KEYS.items() if name.startswith(k)), None)
        label = key or ("bench_" + "".join(c if c.isalnum() else "_" for c in name).strip("_"))
        if key:
            print(f"{label} p50_us={p50} name={name.replace(' ', '_')}")
        else:
            # Scaled x1000 (1000 operations per measured iteration): µs per 1000 ops = ns per op.
            print(f"{label} p50_ns_per_op={p50} name={name.replace(' ', '_')}")
