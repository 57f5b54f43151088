-- common.lua: the one machine-readable result line every bench script prints.
--   <label> rps=.. p50_ms=.. p99_ms=.. non2xx=.. errors=.. requests=.. ...
-- non2xx is wrk's errors.status (responses with status > 399).
local M = {}
function M.done(summary, latency, requests)
  local label = os.getenv("BENCH_LABEL") or "bench"
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "%s rps=%.1f p50_ms=%.3f p99_ms=%.3f non2xx=%d errors=%d"
    .. " requests=%d duration_s=%.2f mean_ms=%.3f p90_ms=%.3f p999_ms=%.3f max_ms=%.3f\n",
    label, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status, e.connect + e.read + e.write + e.timeout,
    summary.requests, secs, latency.mean / 1000,
    latency:percentile(90) / 1000, latency:percentile(99.9) / 1000, latency.max / 1000))
end
return M
