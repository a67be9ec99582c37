-- wrk script for every scenario of `make bench`.
--
-- The driver (bench/run.py) writes one request per line to the file named
-- by BENCH_REQUESTS, tab-separated:
--     METHOD <TAB> PATH <TAB> BODY or "-" <TAB> "Header: value" <TAB> ...
-- Every request is formatted once in init(), so the load generator only
-- rotates through ready strings: per-session paths and client tokens cost
-- it nothing per request, and its single core is spent on sockets.
--
-- BENCH_DELAY_MS > 0 paces each connection: after a response it waits a
-- random time with that mean before the next request (wrk's delay() hook).
-- The wait is exponentially distributed, so the requests of all
-- connections together arrive about as a Poisson process; a fixed wait
-- would keep connections in step and send the load in bursts. With C
-- connections the offered rate is about C * 1000 / (delay + latency) req/s.
-- Latency is measured from sending, so the wait is not counted in it.
--
-- done() prints one line "BENCH_JSON {...}" with the counts and the latency
-- percentiles (microseconds) that the driver parses.

local requests = {}
local count = 0
local index = 0
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0") or 0

local function split(line, sep)
  local fields = {}
  for field in (line .. sep):gmatch("(.-)" .. sep) do
    fields[#fields + 1] = field
  end
  return fields
end

function init(args)
  local path = os.getenv("BENCH_REQUESTS")
  local file = assert(io.open(path, "r"), "cannot open " .. tostring(path))
  for line in file:lines() do
    if line ~= "" then
      local f = split(line, "\t")
      local headers = {}
      for i = 4, #f do
        local name, value = f[i]:match("^([^:]+):%s*(.*)$")
        if name then headers[name] = value end
      end
      local body = nil
      if f[3] ~= "-" then body = f[3] end
      count = count + 1
      requests[count] = wrk.format(f[1], f[2], headers, body)
    end
  end
  file:close()
  assert(count > 0, "no requests in " .. path)
  -- Threads start at different offsets so they do not march in step.
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
  index = math.random(0, count - 1)
end

function request()
  index = index % count + 1
  return requests[index]
end

if delay_ms > 0 then
  -- wrk truncates the returned milliseconds to an integer: round instead.
  function delay()
    return math.floor(-delay_ms * math.log(1 - math.random()) + 0.5)
  end
end

function done(summary, latency, requests_stats)
  local e = summary.errors
  local p = {}
  for _, q in ipairs({ 50, 75, 90, 95, 99, 99.9 }) do
    p[#p + 1] = string.format('"p%s":%d', tostring(q):gsub("%.", "_"), latency:percentile(q))
  end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"stdev":%.1f,%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency.stdev, table.concat(p, ",")))
end
