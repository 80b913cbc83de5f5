# bench/cpu.sh: the cpu mode of bench/run.sh (sourced by it; not run on its own).
#
# The CPU floor: what dbaas-proxy spends per request beyond a bare httputil.ReverseProxy.
#  1. Live, interleaved: wrk -t2 -c16 and -c128 GET /services through bench/plain, dbaas-proxy
#     with its defaults and dbaas-proxy with log.level warn (no access log), ROUNDS rounds;
#     CPU µs per request of each process and its ratio to plain in the same round.
#  2. In memory: go test -bench Stack -benchmem ./bench/stack (ns, bytes and allocations per
#     request, layer by layer), and a CPU and allocation profile of the full stack.

CPU_CONTENDERS=(plain dbaas-proxy dbaas-proxy-nolog)

cpu_main() {
  local round w c saved
  start_all
  saved="$PROXY_PID $PROXY_PORT $ADMIN_PORT"
  start_proxy dbaas-proxy-nolog warn
  NOLOG_PID=$PROXY_PID NOLOG_PORT=$PROXY_PORT
  read -r PROXY_PID PROXY_PORT ADMIN_PORT <<<"$saved"
  RUNS=$OUT/runs-cpu.csv
  echo "round,contender,workload,requests,duration_us,non2xx,sockerr,p50_us,p99_us,p999_us,cpu_ticks,emu_cpu_ticks,clk_tck,bytes,speed_bps,rss_kb" >"$RUNS"
  for c in "${CPU_CONTENDERS[@]}"; do
    set_target "$c"
    wrk_shape get-c128
    wrk_to "$OUT/raw/warmup-cpu-$c.txt" 2s
  done
  for ((round = 1; round <= ROUNDS; round++)); do
    for w in get-c16 get-c128; do
      for c in "${CPU_CONTENDERS[@]}"; do run_wrk "$c" "$w" "$round"; done
    done
  done
  cpu_go
  write_cpu_results
}

# cpu_ratios: per workload, each contender's CPU µs/req over plain's in the same round.
cpu_ratios() {
  awk -F, -v rounds="$ROUNDS" '
    NR == 1 { next }
    { C[$2, $3, $1] = $4 > 0 ? $11 * 1e6 / $13 / $4 : 0; if (!($3 in sw)) { sw[$3] = 1; ws[++nw] = $3 } }
    function stat(n, i, j, t) {
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return sprintf("%.2f (%.2f–%.2f)", (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2, a[1], a[n])
    }
    END {
      print "| workload | contender | CPU µs/req | ÷ plain, same round (target ≤ 1.10) |"
      print "|---|---|--:|--:|"
      split("plain dbaas-proxy dbaas-proxy-nolog", cs, " ")
      for (i = 1; i <= nw; i++) for (j = 1; j <= 3; j++) {
        n = 0; m = 0
        for (r = 1; r <= rounds; r++) { a[++n] = C[cs[j], ws[i], r] }
        abs = stat(n)
        for (r = 1; r <= rounds; r++) if (C["plain", ws[i], r] > 0) a[++m] = C[cs[j], ws[i], r] / C["plain", ws[i], r]
        printf "| %s | %s | %s | ×%s |\n", ws[i], cs[j], abs, m ? stat(m) : "–"
      }
    }' "$RUNS"
}

# STACK_FUNCS are the functions whose inclusive share of Stack/full's CPU the report lists.
STACK_FUNCS='Total samples|dbaas-proxy/(proxy|tokensource|internal)|gorilla/mux\.|zerolog\.\(\*Event\)\.Msg|Request\)\.(Clone|WithContext)|context\.WithValue|Header\.Clone|ReverseProxy\)\.ServeHTTP|runtime\.mallocgc$|runtime\.gcBgMarkWorker$'

# cpu_go: the in-memory stack benchmark and the profiles of its full stack.
cpu_go() {
  (cd "$ROOT" && go test -c -o "$OUT/stack.test" ./bench/stack)
  (cd "$OUT" && ./stack.test -test.run '^$' -test.bench Stack -test.benchmem -test.count "${GO_COUNT:-5}") |
    tee "$OUT/stack-bench.txt"
  (cd "$OUT" && ./stack.test -test.run '^$' -test.bench 'Stack/full$' -test.benchtime 3s \
    -test.cpuprofile "$OUT/stack-cpu.prof" >/dev/null)
  (cd "$OUT" && ./stack.test -test.run '^$' -test.bench 'Stack/full$' -test.benchtime 50000x \
    -test.memprofile "$OUT/stack-mem.prof" -test.memprofilerate 1 >/dev/null)
  go tool pprof -top -cum -nodecount 400 "$OUT/stack.test" "$OUT/stack-cpu.prof" 2>/dev/null |
    grep -E "$STACK_FUNCS" >"$OUT/stack-cpu.txt"
  go tool pprof -sample_index=alloc_objects -top -nodecount 30 "$OUT/stack.test" "$OUT/stack-mem.prof" \
    2>/dev/null >"$OUT/stack-mem.txt"
}

# stack_table: the medians of bench/stack's lines, with the step from plain.
stack_table() {
  awk '$1 ~ /^BenchmarkStack\// {
      name = $1; sub(/^BenchmarkStack\//, "", name); sub(/-[0-9]+$/, "", name)
      if (!(name in seen)) { seen[name] = 1; order[++n] = name }
      k[name]++; ns[name, k[name]] = $3; bo[name] = $5; al[name] = $7
      if (!(name in mn) || $3 + 0 < mn[name]) mn[name] = $3 + 0
    }
    function med(name, i, j, c, a, t) {
      c = k[name]; for (i = 1; i <= c; i++) a[i] = ns[name, i] + 0
      for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return (c % 2) ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
    }
    END {
      print "| handler stack (in memory, canned upstream) | ns/op median | min | min × plain | B/op | allocs/op | allocs beyond plain |"
      print "|---|--:|--:|--:|--:|--:|--:|"
      p = mn["plain"]
      for (i = 1; i <= n; i++) {
        m = med(order[i]); o = order[i]
        printf "| %s | %.0f | %.0f | ×%.2f | %d | %d | %s |\n", o, m, mn[o], mn[o] / p, bo[o], al[o],
          o == "harness" ? "–" : sprintf("%+d", al[o] - al["plain"])
      }
    }' "$OUT/stack-bench.txt"
}

write_cpu_results() {
  local out=${CPU_RESULTS:-$OUT/RESULTS.cpu.md} ratios stack
  ratios=$(cpu_ratios)
  stack=$(stack_table)
  {
    echo "## CPU floor ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    machine_lines
    echo "- Command: \`$(command_line)\` (rounds: $ROUNDS, $DURATION per wrk run, interleaved)"
    echo
    echo "$ratios"
    echo
    echo "$stack"
    echo
    echo "CPU profile of \`Stack/full\`: inclusive share (cum) of the main functions"
    echo "(\`go tool pprof -top -cum bench/out/stack.test bench/out/stack-cpu.prof\`):"
    echo
    echo '```'
    cat "$OUT/stack-cpu.txt"
    echo '```'
    echo
    echo "Allocations of \`Stack/full\` (50000 requests, every allocation sampled), top:"
    echo
    echo '```'
    sed -n '1,36p' "$OUT/stack-mem.txt"
    echo '```'
  } >"$out"
  cat "$out"
  echo "run.sh: wrote $out" >&2
}
