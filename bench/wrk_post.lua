-- Replays pre-generated signed WeCom callbacks for wrk (bench/ingest.py writes the file).
-- Usage: wrk ... -s bench/wrk_post.lua URL -- REQUEST_FILE THREADS
-- The file holds one request per line: "<path with query>\t<body>". Thread k keeps the lines
-- with (line number % THREADS) == k, so threads send disjoint slices; each thread cycles through
-- its slice and counts in `wraps` every time it had to start again (a repeat: should stay 0).

local threads = {}   -- main state only: the thread objects, for done()
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)   -- runs before that thread's init()
  next_id = next_id + 1
  table.insert(threads, thread)
end

local reqs = {}
local n = 0
local i = 0
-- Globals so that done() can read them with thread:get().
ok = 0          -- 2xx responses
wraps = 0       -- times this thread ran out of distinct requests
loaded = 0      -- requests in this thread's slice
statuses = {}   -- non-2xx responses by status code

function init(args)
  local path, nthreads = args[1], tonumber(args[2])
  local headers = { ["Content-Type"] = "text/xml" }
  local lineno = 0
  for line in io.lines(path) do
    if lineno % nthreads == tid then
      local tab = string.find(line, "\t", 1, true)
      n = n + 1
      -- Pre-format the whole HTTP request once; request() only hands it out.
      reqs[n] = wrk.format("POST", string.sub(line, 1, tab - 1), headers, string.sub(line, tab + 1))
    end
    lineno = lineno + 1
  end
  loaded = n
  if n == 0 then
    error("no requests for thread " .. tid .. " in " .. path)
  end
end

function request()
  i = i + 1
  if i > n then
    i = 1
    wraps = wraps + 1
  end
  return reqs[i]
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local ok_total, wraps_total, loaded_total = 0, 0, 0
  local other = {}
  for _, t in ipairs(threads) do
    ok_total = ok_total + t:get("ok")
    wraps_total = wraps_total + t:get("wraps")
    loaded_total = loaded_total + t:get("loaded")
    for code, count in pairs(t:get("statuses")) do
      other[code] = (other[code] or 0) + count
    end
  end
  local parts = {}
  for code, count in pairs(other) do
    table.insert(parts, code .. ":" .. count)
  end
  local e = summary.errors
  -- One machine-readable line for bench/ingest.py; latencies in microseconds.
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d ok=%d wraps=%d loaded=%d " ..
    "connect=%d read=%d write=%d status=%d timeout=%d " ..
    "p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f other=%s\n",
    summary.requests, summary.duration, ok_total, wraps_total, loaded_total,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    (#parts > 0) and table.concat(parts, ",") or "-"))
end
