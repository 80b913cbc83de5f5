# bench/profile.sh: the profile mode of bench/run.sh (sourced by it; not run on its own).
#
# Under wrk -t2 -c16 GET /services for DURATION each: syscalls and context switches per request
# of every contender (perf stat), then a perf profile of the dbaas-proxy process, its self time
# grouped by category (bench/perfcat.awk) and the inclusive time of its main functions.

# SYSCALLS are the syscalls counted one by one; the rest are "other".
SYSCALLS=(read readv recvfrom recvmsg write writev sendto sendmsg epoll_wait epoll_pwait futex nanosleep sched_yield)

profile_main() {
  local secs c
  command -v perf >/dev/null || die "perf is missing (Debian: apt-get install linux-perf)"
  secs=$(to_seconds "$DURATION")
  start_all
  check_targets
  warm_up
  wrk_shape get-c16
  {
    echo "| contender | syscalls/req | reads | writes | epoll waits | futex, sleeps, yields | other | context switches/req |"
    echo "|---|--:|--:|--:|--:|--:|--:|--:|"
  } >"$OUT/profile-stat.md"
  for c in "${CONTENDERS[@]}"; do count_syscalls "$c" "$secs"; done
  record_proxy get-c16 "$secs"
  record_proxy post-1m-c8 "$secs"
  write_profile
}

# count_syscalls CONTENDER SECONDS: one wrk run with perf stat on the contender's processes;
# appends a row to profile-stat.md.
count_syscalls() {
  local c=$1 secs=$2 pids events s perf_pid
  set_target "$c"
  read -ra pids <<<"$(contender_pids "$c")"
  events=raw_syscalls:sys_enter,context-switches
  for s in "${SYSCALLS[@]}"; do events+=,syscalls:sys_enter_$s; done
  perf stat -x, -e "$events" -p "$(
    IFS=,
    echo "${pids[*]}"
  )" -o "$OUT/perfstat-$c.csv" -- sleep "$secs" &
  perf_pid=$!
  PIDS+=("$perf_pid")
  wrk_to "$OUT/raw/profile-$c.txt" "${secs}s"
  reap_pid "$perf_pid"
  parse_wrk "$OUT/raw/profile-$c.txt"
  awk -F, -v c="$c" -v n="$W_requests" '
    $3 == "raw_syscalls:sys_enter" { all = $1 }
    $3 == "context-switches" { cs = $1 }
    $3 ~ /sys_enter_(read|readv|recvfrom|recvmsg)$/ { rd += $1 }
    $3 ~ /sys_enter_(write|writev|sendto|sendmsg)$/ { wr += $1 }
    $3 ~ /sys_enter_epoll_p?wait$/ { ep += $1 }
    $3 ~ /sys_enter_(futex|nanosleep|sched_yield)$/ { fx += $1 }
    END {
      if (n == 0) exit 1
      printf "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", c,
        all / n, rd / n, wr / n, ep / n, fx / n, (all - rd - wr - ep - fx) / n, cs / n
    }' "$OUT/perfstat-$c.csv" >>"$OUT/profile-stat.md" || die "perf stat for $c gave no counts"
}

# record_proxy WORKLOAD SECONDS: perf record of the dbaas-proxy process under one wrk run;
# sets PROFILE_US[WORKLOAD] and writes profile-WORKLOAD-categories.md and -children.txt.
declare -A PROFILE_US
record_proxy() {
  local w=$1 secs=$2 perf_pid cpu0 cpu1 data=$OUT/perf-$1.data
  set_target dbaas-proxy
  wrk_shape "$w"
  perf record -q -F 999 -g -p "$PROXY_PID" -o "$data" -- sleep "$secs" 2>"$OUT/perf.log" &
  perf_pid=$!
  PIDS+=("$perf_pid")
  cpu0=$(ticks "$PROXY_PID")
  wrk_to "$OUT/raw/profile-record-$w.txt" "${secs}s"
  cpu1=$(ticks "$PROXY_PID")
  reap_pid "$perf_pid"
  parse_wrk "$OUT/raw/profile-record-$w.txt"
  PROFILE_US[$w]=$(awk -v t=$((cpu1 - cpu0)) -v k="$CLK_TCK" -v n="$W_requests" 'BEGIN { printf "%.1f", t * 1e6 / k / n }')
  perf report -i "$data" --stdio --no-children --sort symbol -g none 2>/dev/null |
    awk -v us="${PROFILE_US[$w]}" -f "$BENCH_DIR/perfcat.awk" >"$OUT/profile-$w-categories.md"
  perf report -i "$data" --stdio --children --sort symbol -g none 2>/dev/null |
    awk -v re="$PROFILE_FUNCS" '/^#/ || NF < 4 { next }
      { sub(/ +- +- *$/, ""); sub(/github\.com\/dbaas-proxy\/dbaas-proxy\//, "") }
      $4 ~ re { print }' | head -n 30 >"$OUT/profile-$w-children.txt"
}

# PROFILE_FUNCS are the functions whose inclusive share of dbaas-proxy's CPU the profile lists.
PROFILE_FUNCS='^(net/http\.\(\*conn\)\.serve|net/http\.\(\*response\)\.finishRequest|net/http\.\(\*persistConn\)\.(readLoop|writeLoop)|net/http/httputil\.\(\*ReverseProxy\)\.ServeHTTP|crypto/tls\.\(\*Conn\)\.(Read|Write)|proxy\.\(\*Handler\)\.(ServeHTTP|logAccess|finish)|internal/inbound\.\(\*guarded\)\.ServeHTTP|internal/admin\.\(\*Metrics\)\.Observe|tokensource\.\(\*Transport\)\.RoundTrip|github\.com/gorilla/mux\.\(\*Router\)\.Match|net/textproto\.readMIMEHeader|runtime\.(mallocgc|gcBgMarkWorker|findRunnable|memmove|memclrNoHeapPointers)|io\.ReadAll|syscall\.Syscall|entry_SYSCALL_64_after_hwframe)$'

write_profile() {
  local w
  {
    echo
    echo "## Profile: where dbaas-proxy's CPU goes ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "Command: \`DURATION=$DURATION bench/run.sh profile\`. wrk -t2 -c16 GET /services for $DURATION per"
    echo "contender; perf stat counts the contender's processes only (nginx: master and workers), per"
    echo "request. (The tracepoints slow syscalls down, so this run's CPU figures are not comparable.)"
    echo
    cat "$OUT/profile-stat.md"
    for w in get-c16 post-1m-c8; do profile_section "$w"; done
  } >>"$RESULTS"
  cat "$OUT/profile-stat.md"
  for w in get-c16 post-1m-c8; do cat "$OUT/profile-$w-categories.md" "$OUT/profile-$w-children.txt"; done
  echo "run.sh: appended to $RESULTS (perf data: $OUT/perf-*.data)" >&2
}

# profile_section WORKLOAD: the perf record results of one workload, in Markdown.
profile_section() {
  echo
  echo "perf record -F 999 -g on the dbaas-proxy process under $1 (${PROFILE_US[$1]} CPU µs/req in"
  echo "that window): self time grouped by category (a heuristic on symbol names; kernel time on a"
  echo "VM piles up where interrupts are re-enabled, so its split is rough)."
  echo
  cat "$OUT/profile-$1-categories.md"
  echo
  echo "Inclusive time (self and callees) of the main functions, % of dbaas-proxy's samples:"
  echo
  echo '```'
  cat "$OUT/profile-$1-children.txt"
  echo '```'
}
