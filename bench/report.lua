-- wrk script for bench/harness.py. Sends one GET path with ShipStation-style headers and
-- prints one machine-readable RESULT line with the counts and latency percentiles.
--
-- Environment: BENCH_PATH (request path), BENCH_GZIP=1 (send Accept-Encoding: gzip),
-- BENCH_DELAY_MS (pause per connection between requests, to offer a fixed load).

wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH") or "/"
wrk.headers["Accept"] = "application/json"
-- A fixed Basic credential, as every ShipStation V1 client sends one.
wrk.headers["Authorization"] = "Basic YmVuY2g6YmVuY2g="
if os.getenv("BENCH_GZIP") == "1" then
  wrk.headers["Accept-Encoding"] = "gzip"
end

local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"socket_errors":%d,"non2xx":%d,' ..
    '"p50_us":%d,"p99_us":%d,"p999_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect + errors.read + errors.write + errors.timeout, errors.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
