-- wrk script for the webhook ingress step of bench/harness.py. POSTs a V1 webhook body to
-- BENCH_PATH (`/hooks/{token}`) for BENCH_LOAD_SECONDS, then stops sending, so that wrk's
-- own duration (set a few seconds longer) ends with no request in flight. Every 2xx that
-- wrk read is then an event the server committed, and the harness compares the two counts.
--
-- Prints one RESULT line: 2xx and other responses, the load window in microseconds (first
-- request of any thread to last 2xx of any thread), socket errors and latency percentiles.

local ffi = require("ffi")
ffi.cdef[[
  struct bench_timespec { long tv_sec; long tv_nsec; };
  int clock_gettime(int clock_id, struct bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local clock = ffi.new("struct bench_timespec")

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1000000 + math.floor(tonumber(clock.tv_nsec) / 1000)
end

-- Long enough that a parked connection never sends again before wrk exits.
local PARK_MS = 3600 * 1000

wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"resource_url":"https://ssapi.shipstation.com/orders?storeID=7654321' ..
  '&importBatch=bench-batch-0001","resource_type":"ORDER_NOTIFY"}'

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  accepted = 0
  rejected = 0
  started_us = now_us()
  last_accepted_us = started_us
  deadline_us = started_us + tonumber(os.getenv("BENCH_LOAD_SECONDS") or "10") * 1000000
end

function delay()
  if now_us() < deadline_us then
    return 0
  end
  return PARK_MS
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    accepted = accepted + 1
    last_accepted_us = now_us()
  else
    rejected = rejected + 1
  end
end

function done(summary, latency, requests)
  local total_accepted, total_rejected = 0, 0
  local first_us, last_us = nil, nil
  for _, thread in ipairs(threads) do
    total_accepted = total_accepted + thread:get("accepted")
    total_rejected = total_rejected + thread:get("rejected")
    local started = thread:get("started_us")
    local last = thread:get("last_accepted_us")
    if first_us == nil or started < first_us then first_us = started end
    if last_us == nil or last > last_us then last_us = last end
  end
  local errors = summary.errors
  io.write(string.format(
    'RESULT {"accepted":%d,"rejected":%d,"window_us":%d,"requests":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p99_us":%d,"p999_us":%d}\n',
    total_accepted, total_rejected, last_us - first_us, summary.requests,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
