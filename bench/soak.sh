# bench/soak.sh: the soak mode of bench/run.sh (sourced by it; not run on its own).

# metric NAME: a sample's value from dbaas-proxy's /metrics ("n/a" when absent).
metric() {
  awk -v n="$1" '$1 == n { v = $2; found = 1 } END { print found ? v + 0 : "n/a" }' "$OUT/metrics.txt"
}

# soak_sample LABEL: print one line of figures and keep it in LAST_LINE.
soak_sample() {
  local rss fds threads
  curl -sf -o "$OUT/metrics.txt" "http://127.0.0.1:$ADMIN_PORT/metrics" || : >"$OUT/metrics.txt"
  rss=$(status_kb VmRSS "$PROXY_PID")
  fds=$(find "/proc/$PROXY_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
  threads=$(awk '$1 == "Threads:" { print $2 }' "/proc/$PROXY_PID/status")
  LAST_LINE=$(printf '%-12s %8.1f %10s %7s %5s %10s %7s %9s %7s' "$1" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" \
    "$(metric go_goroutines)" "$threads" "$fds" "$SOAK_REQS" "$((SOAK_NON2XX + SOAK_SOCKERR))" \
    "$(metric 'dbaas_proxy_token_exchanges_total{result="ok"}')" "$(metric dbaas_proxy_replays_total)")
  echo "$LAST_LINE"
}

# soak_main DURATION: moderate load (wrk -t1 -c8, back-to-back 30 s chunks) through dbaas-proxy
# in front of an emulator that issues 30 s tokens and revokes every token every 2 minutes.
soak_main() {
  local total t0 elapsed=0 chunk n=0 first
  total=$(to_seconds "$1")
  ensure_tools
  build
  start_emulator 30s 2m
  start_proxy
  set_target dbaas-proxy
  wrk_shape get-c16
  THREADS=1 CONNS=8
  SOAK_REQS=0 SOAK_NON2XX=0 SOAK_SOCKERR=0
  echo "soak: $1 through dbaas-proxy (pid $PROXY_PID), wrk -t1 -c8, tokens of 30 s revoked every 2 m"
  printf '%-12s %8s %10s %7s %5s %10s %7s %9s %7s\n' elapsed RSS_MiB goroutines threads fds requests errors \
    exchanges replays
  soak_sample 0s
  first=$LAST_LINE
  t0=$SECONDS
  while ((elapsed < total)); do
    chunk=$((total - elapsed < 30 ? total - elapsed : 30))
    n=$((n + 1))
    wrk_to "$OUT/raw/soak-$n.txt" "${chunk}s"
    parse_wrk "$OUT/raw/soak-$n.txt"
    SOAK_REQS=$((SOAK_REQS + W_requests)) SOAK_NON2XX=$((SOAK_NON2XX + W_non2xx))
    SOAK_SOCKERR=$((SOAK_SOCKERR + W_sockerr))
    elapsed=$((SECONDS - t0))
    soak_sample "${elapsed}s"
  done
  sleep 5
  soak_sample "+5s idle" >/dev/null
  soak_summary "$first" "$LAST_LINE"
}

# soak_summary START_LINE END_LINE: the start and end figures, and the verdict.
soak_summary() {
  echo
  printf 'soak: %-5s %s\n' start "$1" end "$2"
  echo "soak: $SOAK_REQS requests, $SOAK_NON2XX non-2xx, $SOAK_SOCKERR socket errors"
  echo "soak: dbaas-proxy log: $OUT/dbaas-proxy.log, emulator log: $OUT/emulator.log"
  [[ $(metric go_goroutines) != n/a ]] ||
    echo "soak: goroutines n/a: dbaas-proxy's /metrics does not export go_goroutines (no Go collector)"
  ((SOAK_NON2XX + SOAK_SOCKERR == 0)) || die "soak: requests failed"
}

# abuse_main DURATION: the abuse soak (issue 19): 64 slow readers that never read a large log,
# 64 uploaders trickling one byte every 2 s, and 200 normal clients at once, through
# dbaas-proxy with its defaults; RSS, goroutines and fds sampled every 30 s. It passes when the
# normal clients saw no failure and memory stayed flat.
abuse_main() {
  local total
  total=$(to_seconds "$1")
  build
  start_emulator 30m 0
  start_proxy
  SOAK_REQS=0 SOAK_NON2XX=0 SOAK_SOCKERR=0
  echo "abuse soak: $1 through dbaas-proxy (pid $PROXY_PID)"
  printf '%-12s %8s %10s %7s %5s\n' elapsed RSS_MiB goroutines threads fds
  "$OUT/client" abuse -addr "127.0.0.1:$PROXY_PORT" -user "$USER_ID" -d "${total}s" >"$OUT/abuse.txt" &
  local client=$! t0=$SECONDS
  while kill -0 "$client" 2>/dev/null; do
    soak_sample "$((SECONDS - t0))s" | cut -c1-48
    sleep 30
  done
  wait "$client" || die "the abuse client failed"
  tail -n1 "$OUT/abuse.txt"
  grep -q 'normal_failed=0 ' "$OUT/abuse.txt" || die "normal clients failed under abuse"
}
