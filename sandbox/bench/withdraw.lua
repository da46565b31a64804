-- wrk script: withdraws distinct seeded EngageLab msg_ids, so every request
-- is a real first recall (seed first; see sandbox/README.md, "Performance").
-- Usage: wrk -t2 -c64 -d10s -s sandbox/bench/withdraw.lua http://127.0.0.1:18085 -- <first_msg_id>
local threads = {}

function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end

function init(args)
  first = tonumber(args[1] or "1828256757")
  step = 2
  counter = 0
  headers = { ["Authorization"] = "Basic ZWwtc2FuZGJveDplbC1zZWNyZXQ=" }
end

function request()
  local id = first + offset + counter * step
  counter = counter + 1
  return wrk.format("DELETE", string.format("/v4/push/withdraw/%d", id), headers)
end
