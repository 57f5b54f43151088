-- refresh.lua: POST /token grant_type=refresh_token, each refresh token used once.
--
-- Refresh tokens rotate, and a fresh one can only come from a login (bcrypt, slow on
-- purpose) or from the previous refresh. So REFRESH_FILE holds one refresh token per
-- session (a few more than connections), and every 200 response gives back the
-- successor, which goes into the pool for a later request: each connection walks its
-- own chain of rotations and no token is ever presented twice (reuse would revoke the
-- session). The response() callback costs wrk some CPU, but at a few thousand
-- requests per second wrk (on its own core) is far from its limit.
-- ACCESS_OUT (optional): append the first ACCESS_MAX access tokens there, one a line.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local pool = {}
local out = nil
local written = 0
local max_out = tonumber(os.getenv("ACCESS_MAX") or "0")
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

local function form_escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  for line in io.lines(os.getenv("REFRESH_FILE")) do
    if #line > 0 then pool[#pool + 1] = line end
  end
  local path = os.getenv("ACCESS_OUT")
  if path and path ~= "" and max_out > 0 then out = io.open(path, "w") end
end

function request()
  -- An empty pool only happens after failures; the request then fails visibly (non2xx).
  local token = table.remove(pool) or "exhausted"
  return wrk.format("POST", "/token", headers, "grant_type=refresh_token&refresh_token=" .. form_escape(token))
end

local debug_left = tonumber(os.getenv("BENCH_DEBUG") or "0")

function response(status, hdrs, body)
  if status ~= 200 then
    if debug_left > 0 then
      debug_left = debug_left - 1
      io.stderr:write("refresh.lua: status ", status, " ", body, "\n")
    end
    return
  end
  local successor = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if successor then table.insert(pool, 1, successor) end
  if out then
    local access = body:match('"access_token"%s*:%s*"([^"]+)"')
    if access then
      out:write(access, "\n")
      out:flush()
      written = written + 1
      if written >= max_out then out:close(); out = nil end
    end
  end
end

done = common.done
