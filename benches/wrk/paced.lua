-- wrk script of the http_load bench: every connection waits `pace` ms (the first argument
-- after `--`, default 100) between its requests, so 50 connections ask about 500 requests/s;
-- with no pace they ask as fast as they are answered. At the end one line the bench reads:
-- the requests, errors and latency percentiles (µs).
local pace = 0

function init(args)
  pace = tonumber(args[1] or "0") or 0
end

function delay()
  return pace
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "wrk-result requests=%d duration_us=%d socket_errors=%d non2xx=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
