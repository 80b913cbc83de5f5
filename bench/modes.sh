# bench/modes.sh: the modes of bench/run.sh (sourced by it; not run on its own).

# ---- measurements ------------------------------------------------------------------------

# parse_wrk LOG: sets W_requests, W_duration_us, W_non2xx, W_sockerr, W_p50_us, W_p99_us and
# W_p999_us from the BENCH line that bench/wrk.lua prints.
parse_wrk() {
  local line kv
  line=$(grep -m1 '^BENCH ' "$1") || die "no BENCH line in $1: $(tail -n3 "$1")"
  for kv in ${line#BENCH }; do printf -v "W_${kv%%=*}" '%s' "${kv#*=}"; done
}

# wrk_shape WORKLOAD: sets CONNS, THREADS, BODY and REQ_PATH.
wrk_shape() {
  BODY=0 REQ_PATH=/api/v3/$USER_ID/services
  case $1 in
    get-c1) CONNS=1 THREADS=1 ;;
    get-c16) CONNS=16 THREADS=2 ;;
    get-c128) CONNS=128 THREADS=2 ;;
    post-1m-c8) CONNS=8 THREADS=2 BODY=$POST_BYTES REQ_PATH=/api/v3/$USER_ID/_echo ;;
    *) die "unknown workload $1" ;;
  esac
}

# wrk_to LOG DURATION: one wrk run of the current shape against the current target.
wrk_to() {
  BENCH_BODY_BYTES=$BODY wrk -t"$THREADS" -c"$CONNS" -d"$2" --timeout 10s --latency \
    -s "$BENCH_DIR/wrk.lua" "${AUTH[@]}" "$URL$REQ_PATH" >"$1" 2>&1 ||
    die "wrk failed: $(tail -n3 "$1")"
}

# start_sampler PID...: sample the processes' summed VmRSS every 0.5 s into rss.samples.
start_sampler() {
  : >"$OUT/rss.samples"
  (while :; do
    status_kb VmRSS "$@" >>"$OUT/rss.samples" 2>/dev/null || true
    sleep 0.5
  done) &
  SAMPLER_PID=$!
  PIDS+=("$SAMPLER_PID")
}

# run_wrk CONTENDER WORKLOAD ROUND: one measured wrk run, appended to $RUNS.
run_wrk() {
  local c=$1 w=$2 round=$3 log pids cpu0 emu0 cpu1 emu1 rss=0
  wrk_shape "$w"
  set_target "$c"
  read -ra pids <<<"$(contender_pids "$c")"
  log=$OUT/raw/$round-$c-$w.txt
  [[ $w != get-c128 ]] || start_sampler "${pids[@]}"
  cpu0=$(ticks "${pids[@]}") emu0=$(ticks "$EMU_PID")
  wrk_to "$log" "$DURATION"
  cpu1=$(ticks "${pids[@]}") emu1=$(ticks "$EMU_PID")
  if [[ $w == get-c128 ]]; then
    stop_pid "$SAMPLER_PID"
    rss=$(sort -n "$OUT/rss.samples" | tail -n1)
  fi
  parse_wrk "$log"
  echo "$round,$c,$w,$W_requests,$W_duration_us,$W_non2xx,$W_sockerr,$W_p50_us,$W_p99_us,$W_p999_us,$((cpu1 - cpu0)),$((emu1 - emu0)),$CLK_TCK,0,0,${rss:-0}" >>"$RUNS"
  awk -v r="$round" -v c="$c" -v w="$w" -v n="$W_requests" -v d="$W_duration_us" -v t=$((cpu1 - cpu0)) \
    -v k="$CLK_TCK" -v e=$((W_non2xx + W_sockerr)) 'BEGIN {
      printf "round %s %-12s %-11s %8.0f req/s %7.1f CPU µs/req  errors %d\n",
        r, w, c, n / (d / 1e6), n ? t * 1e6 / k / n : 0, e }' >&2
}

# run_stream CONTENDER ROUND: one 256 MiB log download with curl, appended to $RUNS.
run_stream() {
  local c=$1 round=$2 pids cpu0 emu0 cpu1 emu1 res code size speed sockerr=0 tls=() hwm
  set_target "$c"
  read -ra pids <<<"$(contender_pids "$c")"
  [[ $c != direct ]] || tls=(--cacert "$OUT/ca.pem")
  reset_hwm "${pids[@]}"
  cpu0=$(ticks "${pids[@]}") emu0=$(ticks "$EMU_PID")
  res=$(curl -sS -o /dev/null --max-time 300 -w '%{http_code} %{size_download} %{speed_download}' \
    "${tls[@]}" "${AUTH[@]}" "$URL/api/v3/$USER_ID/nodes/node-1/logs/postgresql.log?size=$STREAM_BYTES" \
    2>>"$OUT/raw/curl.err") || sockerr=1
  cpu1=$(ticks "${pids[@]}") emu1=$(ticks "$EMU_PID")
  hwm=$(status_kb VmHWM "${pids[@]}")
  read -r code size speed <<<"$res"
  echo "$round,$c,stream-256m,1,0,$((code != 200)),$sockerr,0,0,0,$((cpu1 - cpu0)),$((emu1 - emu0)),$CLK_TCK,${size:-0},${speed:-0},$hwm" >>"$RUNS"
  awk -v r="$round" -v c="$c" -v s="${speed:-0}" -v code="$code" 'BEGIN {
    printf "round %s %-12s %-11s %8.0f MB/s (status %s)\n", r, "stream-256m", c, s / 1e6, code }' >&2
}

# record_rest: each contender's RSS after start, before any load.
record_rest() {
  local c pids
  for c in "${CONTENDERS[@]}"; do
    read -ra pids <<<"$(contender_pids "$c")"
    echo "0,$c,rest,0,0,0,0,0,0,0,0,0,$CLK_TCK,0,0,$(status_kb VmRSS "${pids[@]}")" >>"$RUNS"
  done
}

# check_targets: one GET through each contender must answer 200.
check_targets() {
  local c code tls
  for c in "${CONTENDERS[@]}"; do
    set_target "$c"
    tls=()
    [[ $c != direct ]] || tls=(--cacert "$OUT/ca.pem")
    code=$(curl -s -o "$OUT/raw/check-$c.json" -w '%{http_code}' "${tls[@]}" "${AUTH[@]}" \
      "$URL/api/v3/$USER_ID/services") || true
    [[ $code == 200 ]] || die "$c answered $code: $(head -c 300 "$OUT/raw/check-$c.json")"
  done
}

# warm_up: connection pools, the token and the heaps, before anything is measured.
warm_up() {
  local c w
  for c in "${CONTENDERS[@]}"; do
    set_target "$c"
    for w in get-c128 post-1m-c8; do
      wrk_shape "$w"
      wrk_to "$OUT/raw/warmup-$c-$w.txt" 2s
    done
  done
}

# ---- modes -------------------------------------------------------------------------------

# start_all: the emulator (1 h tokens), dbaas-proxy, and nginx and bench/plain with a token of
# their own.
start_all() {
  ensure_tools
  build
  start_emulator 1h 0
  start_proxy
  TOKEN=$("$OUT/dbaas-proxy" token -config "$OUT/dbaas-proxy.yaml")
  (umask 077 && echo "$TOKEN" >"$OUT/token")
  start_nginx "$TOKEN"
  start_plain "$OUT/token"
}

bench_main() {
  local round w c
  start_all
  RUNS=$OUT/runs.csv
  echo "round,contender,workload,requests,duration_us,non2xx,sockerr,p50_us,p99_us,p999_us,cpu_ticks,emu_cpu_ticks,clk_tck,bytes,speed_bps,rss_kb" >"$RUNS"
  check_targets
  record_rest
  warm_up
  for ((round = 1; round <= ROUNDS; round++)); do
    for w in "${WORKLOADS[@]}"; do
      for c in "${CONTENDERS[@]}"; do run_wrk "$c" "$w" "$round"; done
    done
    ((round > STREAM_ROUNDS)) || for c in "${CONTENDERS[@]}"; do run_stream "$c" "$round"; done
  done
  write_results
}

# command_line: the command that reproduces this run.
command_line() {
  local env="ROUNDS=$ROUNDS DURATION=$DURATION STREAM_ROUNDS=$STREAM_ROUNDS"
  [[ $QUICK != 1 ]] || env="QUICK=1 $env"
  [[ -z ${PROXY_ENV:-} ]] || env="PROXY_ENV=\"$PROXY_ENV\" $env"
  echo "$env bench/run.sh${MODE_ARG:+ $MODE_ARG}"
}

write_results() {
  local table
  table=$("$OUT/report" -in "$RUNS")
  {
    echo "# Benchmark: dbaas-proxy beside nginx and a direct call"
    echo
    machine_lines
    echo "- Command: \`$(command_line)\` (rounds: $ROUNDS, $DURATION per wrk run, contenders interleaved" \
      "per workload; downloads in rounds 1 to $((STREAM_ROUNDS < ROUNDS ? STREAM_ROUNDS : ROUNDS)))"
    echo
    echo "$table"
    setup_notes
  } >"$RESULTS"
  echo "$table"
  echo "run.sh: wrote $RESULTS (raw runs: $RUNS)" >&2
}

# machine_lines: the date, the machine and the tools, as Markdown list items.
machine_lines() {
  local cpu wrkv
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  wrkv=$(wrk -v 2>&1 | awk 'NR == 1 { print $2 }') || true
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- Machine: nproc $(nproc), ${cpu:-unknown CPU}, Linux $(uname -r)"
  echo "- Go $(go env GOVERSION), $(nginx -v 2>&1 | sed 's/^nginx version: //'), wrk $wrkv"
}

setup_notes() {
  cat <<'EOF'

Setup: the emulator (cmd/dbaas-emulator, TLS with h2 and HTTP/1.1 offered, no request logging)
is the upstream of all three. "direct" is wrk straight to it over TLS with a token; "nginx" is
nginx with an upstream keep-alive pool of 128 TLS connections (verified against the CA), a fixed
x-auth-token (nginx cannot refresh it), streaming request bodies and responses, an access log;
"dbaas-proxy" is the real binary with its defaults (HTTP/1.1 upstream pool, JSON access log to
a file, admin listener and metrics on, its own token source; it keeps request bodies up to
1 MiB for a replay after a 401). wrk, the contender and the emulator share the same cores, so
req/s and latency move with the noise; the CPU time per request is the figure to trust.
See bench/README.md.
EOF
}

# to_seconds 90s|10m|1h|90: a duration in whole seconds.
to_seconds() {
  [[ $1 =~ ^([0-9]+)(s|m|h)?$ ]] || die "bad duration $1 (want e.g. 90s, 10m)"
  local n=${BASH_REMATCH[1]}
  case ${BASH_REMATCH[2]} in
    m) n=$((n * 60)) ;;
    h) n=$((n * 3600)) ;;
  esac
  echo "$n"
}

go_main() {
  local cmd="go test -run '^\$' -bench . -benchmem -count 5 ./proxy ./tokensource ./internal/admin"
  mkdir -p "$OUT"
  (cd "$ROOT" && go test -run '^$' -bench . -benchmem -count 5 ./proxy ./tokensource ./internal/admin) |
    tee "$OUT/gobench.txt"
  {
    echo
    echo "## Go micro-benchmarks ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "Command: \`$cmd\` (nproc $(nproc))"
    echo
    echo '```'
    cat "$OUT/gobench.txt"
    echo '```'
  } >>"$RESULTS"
  echo "run.sh: appended to $RESULTS" >&2
}

# shellcheck source=soak.sh
source "$BENCH_DIR/soak.sh"
# shellcheck source=load.sh
source "$BENCH_DIR/load.sh"
# shellcheck source=wan.sh
source "$BENCH_DIR/wan.sh"
# shellcheck source=cpu.sh
source "$BENCH_DIR/cpu.sh"
# shellcheck source=profile.sh
source "$BENCH_DIR/profile.sh"
