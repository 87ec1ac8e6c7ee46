-- The bench's one wrk script. After wrk's `--`, the first argument picks the mode:
--   get                  the URL as given (a presigned GET)
--   put HEADERS BODY     a header-signed PUT: HEADERS holds `Name: value` lines (from
--                        s3sign.py header), BODY the payload whose SHA-256 they sign; the
--                        same request is valid again and again within the 15-minute skew
--   paced MIN_MS MAX_MS  the URL as given, each connection waiting a random MIN..MAX ms
--                        after every answer before it asks again (spread so that the
--                        connections do not fall into step and queue behind each other)
-- At the end it prints one machine-readable RESULT line, so run.sh never scrapes wrk's
-- human output. Latencies are microseconds, as wrk records them.

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

function init(args)
  local mode = args[1] or "get"
  if mode == "put" then
    wrk.method = "PUT"
    for line in read_file(args[2]):gmatch("[^\r\n]+") do
      local name, value = line:match("^([^:]+):%s*(.*)$")
      wrk.headers[name] = value
    end
    wrk.body = read_file(args[3])
  elseif mode == "paced" then
    local lo, hi = tonumber(args[2]), tonumber(args[3])
    math.randomseed(os.time())
    delay = function() return math.random(lo, hi) end
  elseif mode ~= "get" then
    error("wrk.lua: unknown mode " .. mode)
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d bytes=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, summary.duration, summary.bytes,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
