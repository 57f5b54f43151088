-- report.lua: fixed-request wrk script (same output line as the anchors' harness).
-- BENCH_LABEL names the line; BENCH_METHOD / BENCH_BODY / BENCH_CTYPE shape the
-- request; extra headers come from wrk -H. No response() callback: parsing every
-- response in Lua would cap the load generator.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local method = os.getenv("BENCH_METHOD")
local body = os.getenv("BENCH_BODY")
local ctype = os.getenv("BENCH_CTYPE")
if method and method ~= "" then wrk.method = method end
if body and body ~= "" then wrk.body = body end
if ctype and ctype ~= "" then wrk.headers["Content-Type"] = ctype end
done = common.done
