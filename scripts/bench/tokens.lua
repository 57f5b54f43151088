-- tokens.lua: GET /api/greet, each request with the next token of TOKEN_FILE
-- (one per line), round-robin: with more tokens than the verified-token cache keeps
-- hot, every request pays the full verification.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local tokens = {}
local next_index = 1
local path = os.getenv("BENCH_PATH") or "/api/greet"

function init(args)
  for line in io.lines(os.getenv("TOKEN_FILE")) do
    if #line > 0 then tokens[#tokens + 1] = "Bearer " .. line end
  end
  if #tokens == 0 then error("no tokens in " .. tostring(os.getenv("TOKEN_FILE"))) end
  -- Threads start at different offsets so that they do not walk in step.
  next_index = (math.random(1, #tokens))
end

function request()
  local token = tokens[next_index]
  next_index = next_index % #tokens + 1
  return wrk.format("GET", path, { ["Authorization"] = token })
end

done = common.done
