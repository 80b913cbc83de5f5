# bench/load.sh: the load mode of bench/run.sh (sourced by it; not run on its own).
#
# Small GETs at 16, 128, 400 and 1000 keep-alive connections (wrk -t2 -cN) and 4000 idle
# keep-alive connections (bench/client hold: 4000 connections opened, one GET on each, held
# through the run, then one more GET on each to prove they still work) with wrk -t2 -c16 on top.
# Contenders interleaved per workload as in the default mode: direct, nginx, plain and
# dbaas-proxy with its defaults. Per run: req/s, p99, errors (non-2xx, socket errors and
# timeouts, and held connections that failed), CPU per request, and the peak RSS of the
# contender (VmHWM, reset before the run). The goals are checked per round and summarised.

read -ra LOAD_WORKLOADS <<<"${LOAD_WORKLOADS:-get-c16 get-c128 get-c400 get-c1000 idle-4000}"
HOLD_CONNS=${HOLD_CONNS:-4000}

# load_shape WORKLOAD: the wrk shape of a load workload (the busy part of idle-4000).
load_shape() {
  BODY=0 REQ_PATH=/api/v3/$USER_ID/services THREADS=2
  case $1 in
    get-c*) CONNS=${1#get-c} ;;
    idle-*) CONNS=16 ;;
    *) die "unknown load workload $1" ;;
  esac
}

# start_holder CONTENDER: bench/client hold with HOLD_CONNS connections to the contender;
# sets HOLDER_PID once they are all open.
start_holder() {
  local tls=() tok=()
  [[ $1 != direct ]] || tls=(-ca "$OUT/ca.pem") tok=(-token "$TOKEN")
  rm -f "$OUT/hold.out" # so that the wait below cannot see the line of an earlier holder
  "$OUT/client" hold -url "$URL$REQ_PATH" -n "$HOLD_CONNS" "${tls[@]}" "${tok[@]}" \
    >"$OUT/hold.out" 2>"$OUT/hold.log" &
  HOLDER_PID=$!
  PIDS+=("$HOLDER_PID")
  wait_until 120 grep -q '^HOLDING ' "$OUT/hold.out" || die "the holder did not open: $(tail -n3 "$OUT/hold.log")"
}

# stop_holder: the holder checks its connections and exits; sets HOLD_FAILED and HOLD_OK.
stop_holder() {
  local line kv
  kill -TERM "$HOLDER_PID" 2>/dev/null || true
  reap_pid "$HOLDER_PID"
  line=$(grep -m1 '^HOLD ' "$OUT/hold.out") || die "the holder said nothing: $(tail -n3 "$OUT/hold.log")"
  for kv in ${line#HOLD }; do printf -v "H_${kv%%=*}" '%s' "${kv#*=}"; done
  HOLD_FAILED=$((H_open_failed + H_failed)) HOLD_OK=$H_still_ok
}

# tcp_opens: the network namespace's TcpActiveOpens (connect()s so far, every process).
tcp_opens() { awk '$1 == "Tcp:" && $6 ~ /^[0-9]+$/ { print $6 }' /proc/net/snmp; }

# run_load CONTENDER WORKLOAD ROUND: one measured run, appended to $RUNS.
run_load() {
  local c=$1 w=$2 round=$3 log pids cpu0 emu0 cpu1 emu1 hwm extra=0 op0 op1
  load_shape "$w"
  set_target "$c"
  read -ra pids <<<"$(contender_pids "$c")"
  log=$OUT/raw/load-$round-$c-$w.txt
  reset_hwm "${pids[@]}"
  [[ $w != idle-* ]] || start_holder "$c"
  cpu0=$(ticks "${pids[@]}") emu0=$(ticks "$EMU_PID") op0=$(tcp_opens)
  wrk_to "$log" "$DURATION"
  cpu1=$(ticks "${pids[@]}") emu1=$(ticks "$EMU_PID") op1=$(tcp_opens)
  if [[ $w == idle-* ]]; then
    stop_holder
    extra=$HOLD_FAILED
  fi
  hwm=$(status_kb VmHWM "${pids[@]}")
  parse_wrk "$log"
  echo "$round,$c,$w,$((op1 - op0 - CONNS)),$W_requests" >>"$OPENS"
  echo "$round,$c,$w,$W_requests,$W_duration_us,$W_non2xx,$((W_sockerr + extra)),$W_p50_us,$W_p99_us,$W_p999_us,$((cpu1 - cpu0)),$((emu1 - emu0)),$CLK_TCK,0,0,$hwm" >>"$RUNS"
  awk -v r="$round" -v c="$c" -v w="$w" -v n="$W_requests" -v d="$W_duration_us" -v t=$((cpu1 - cpu0)) \
    -v k="$CLK_TCK" -v e=$((W_non2xx + W_sockerr + extra)) -v p99="$W_p99_us" -v hwm="$hwm" \
    -v o=$((op1 - op0 - CONNS)) 'BEGIN {
      printf "round %s %-10s %-11s %8.0f req/s %7.1f CPU µs/req  p99 %6.1f ms  errors %d  peak RSS %.1f MiB  TCP opens %d\n",
        r, w, c, n / (d / 1e6), n ? t * 1e6 / k / n : 0, p99 / 1000, e, hwm / 1024, o }' >&2
}

load_main() {
  local round w c
  start_all
  RUNS=$OUT/runs-load.csv OPENS=$OUT/opens-load.csv
  echo "round,contender,workload,tcp_opens,requests" >"$OPENS"
  echo "round,contender,workload,requests,duration_us,non2xx,sockerr,p50_us,p99_us,p999_us,cpu_ticks,emu_cpu_ticks,clk_tck,bytes,speed_bps,rss_kb" >"$RUNS"
  check_targets
  record_rest
  for c in "${CONTENDERS[@]}"; do # warm-up: pools, token, heaps
    set_target "$c"
    load_shape get-c128
    wrk_to "$OUT/raw/warmup-load-$c.txt" 2s
  done
  for ((round = 1; round <= ROUNDS; round++)); do
    for w in "${LOAD_WORKLOADS[@]}"; do
      for c in "${CONTENDERS[@]}"; do run_load "$c" "$w" "$round"; done
    done
  done
  write_load_results
}

# load_goals RUNS: the goals of dbaas-proxy, per round, in Markdown: req/s at 1000 conns over
# 16 conns (nginx's beside it), errors, peak RSS, and CPU per request over bench/plain's.
load_goals() {
  awk -F, -v rounds="$ROUNDS" '
    NR == 1 || $3 == "rest" { next }
    {
      rps = $5 > 0 ? $4 / ($5 / 1e6) : 0
      R[$2, $3, $1] = rps
      CPU[$2, $3, $1] = $4 > 0 ? $11 * 1e6 / $13 / $4 : 0
      if ($2 == "dbaas-proxy") {
        err += $6 + $7
        if ($16 > hwm) hwm = $16
        if ($6 + $7 > 0) errw = errw " " $3 "(r" $1 "):" $6 + $7
      }
    }
    function stat(name, n, i, a, tmp, j, k) { # median (min–max) of vals[1..n]
      for (i = 1; i <= n; i++) a[i] = vals[i]
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { tmp = a[i]; a[i] = a[j]; a[j] = tmp }
      k = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
      return sprintf("%.2f (%.2f–%.2f)", k, a[1], a[n])
    }
    function ratio(c1, w1, c2, w2, m, r, n) {
      n = 0
      for (r = 1; r <= rounds; r++) {
        if (m == "rps" && R[c2, w2, r] > 0) vals[++n] = R[c1, w1, r] / R[c2, w2, r]
        if (m == "cpu" && CPU[c2, w2, r] > 0) vals[++n] = CPU[c1, w1, r] / CPU[c2, w2, r]
      }
      return n ? stat("", n) : "–"
    }
    END {
      print "| goal (dbaas-proxy, defaults) | target | this run: median (min–max) over the rounds | nginx in the same rounds |"
      print "|---|---|---|---|"
      printf "| req/s at 1000 conns ÷ req/s at 16 conns | ≥ 0.70 | ×%s | ×%s |\n",
        ratio("dbaas-proxy", "get-c1000", "dbaas-proxy", "get-c16", "rps"), ratio("nginx", "get-c1000", "nginx", "get-c16", "rps")
      printf "| req/s with 4000 idle conns held ÷ req/s at 16 conns | – | ×%s | ×%s |\n",
        ratio("dbaas-proxy", "idle-4000", "dbaas-proxy", "get-c16", "rps"), ratio("nginx", "idle-4000", "nginx", "get-c16", "rps")
      printf "| errors over all load runs (non-2xx, socket errors, timeouts, held conns lost) | 0 | %d%s | – |\n", err, errw ? " (" substr(errw, 2) ")" : ""
      printf "| peak RSS (VmHWM) over all load runs | ≤ 256 MiB | %.1f MiB | – |\n", hwm / 1024
      for (w = 1; w <= 5; w++) {
        split("get-c16 get-c128 get-c400 get-c1000 idle-4000", ws, " ")
        printf "| CPU µs/req ÷ bench/plain, %s | ≤ 1.10 | ×%s | ×%s |\n", ws[w],
          ratio("dbaas-proxy", ws[w], "plain", ws[w], "cpu"), ratio("nginx", ws[w], "plain", ws[w], "cpu")
      }
    }' "$1"
  echo
  echo "New TCP connections (TcpActiveOpens of the network namespace during the run, minus wrk's own;"
  echo "other processes on the machine add some tens per second) per 1000 requests, median over the rounds:"
  echo
  awk -F, 'NR > 1 { k = $2 SUBSEP $3; n[k]++; v[k, n[k]] = $5 > 0 ? $4 * 1000 / $5 : 0
      if (!($3 in sw)) { sw[$3] = 1; ws[++nw] = $3 } if (!($2 in sc)) { sc[$2] = 1; cs[++nc] = $2 } }
    END {
      printf "| contender |"; for (i = 1; i <= nw; i++) printf " %s |", ws[i]; print ""
      printf "|---|"; for (i = 1; i <= nw; i++) printf "--:|"; print ""
      for (j = 1; j <= nc; j++) {
        printf "| %s |", cs[j]
        for (i = 1; i <= nw; i++) {
          k = cs[j] SUBSEP ws[i]; m = n[k]
          for (a = 1; a <= m; a++) x[a] = v[k, a]
          for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) if (x[b] < x[a]) { t = x[a]; x[a] = x[b]; x[b] = t }
          printf " %.1f |", m ? ((m % 2) ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2) : 0
        }
        print ""
      }
    }' "$OPENS"
}

write_load_results() {
  local table goals out=${LOAD_RESULTS:-$OUT/RESULTS.load.md}
  table=$("$OUT/report" -in "$RUNS")
  goals=$(load_goals "$RUNS")
  {
    echo "## Load table ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    machine_lines
    echo "- Command: \`$(command_line)\` (rounds: $ROUNDS, $DURATION per run, contenders interleaved per workload)"
    echo
    echo "$goals"
    echo
    echo "$table"
    echo
    echo "RSS here is the peak (VmHWM, reset before each run) of the contender's processes during the run."
    echo "idle-4000: $HOLD_CONNS connections opened and held by bench/client hold (one GET each before"
    echo "the run, one after: a connection that fails then is an error), with wrk -t2 -c16 on top."
  } >"$out"
  echo "$goals"
  echo "$table"
  echo "run.sh: wrote $out (raw runs: $RUNS)" >&2
}
