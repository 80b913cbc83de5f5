-- wrk script for bench/run.sh.
--
-- With BENCH_BODY_BYTES set (> 0) every request is a POST with a body of that many bytes
-- (built once per thread). In every case done() prints one machine-readable line after wrk's
-- own report, which run.sh parses:
--
--   BENCH requests=N duration_us=N non2xx=N sockerr=N p50_us=N p99_us=N p999_us=N
--
-- non2xx is wrk's "Non-2xx or 3xx responses" (statuses above 399); sockerr is the sum of
-- connect, read, write and timeout errors. Percentiles are in microseconds.

local body_bytes = tonumber(os.getenv("BENCH_BODY_BYTES") or "0") or 0

if body_bytes > 0 then
  wrk.method = "POST"
  wrk.body = string.rep("a", body_bytes)
  wrk.headers["Content-Type"] = "application/octet-stream"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d non2xx=%d sockerr=%d p50_us=%d p99_us=%d p999_us=%d\n",
    summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
