# bench/wan.sh: the wan mode of bench/run.sh (sourced by it; not run on its own).
#
# dbaas-proxy's upstream is reached through bench/relay, which delays each direction by RTT/2
# and charges a new connection its TCP handshake round trip; clients are on loopback to the
# proxy. Four measurements, each over WAN_ROUNDS interleaved rounds:
#   oneshot  a new client (its own connection) per call: through the proxy, direct with a
#            cached token, direct with the token dance (token then call, one connection)
#   burst    64 calls at once right after the proxy is ready: a fresh proxy each round, with
#            the HTTP/1.1 pool and with upstream.http2: true
#   rotate   closed-loop load (16 connections) through a proxy whose tokens live
#            WAN_TOKEN_LIFETIME: latency of the requests around each refresh and of the rest
#   quiet    one call after the upstream pool went idle (upstream.idle_timeout: WAN_IDLE if the
#            config key exists, else the built-in 90 s): its latency and the handshake it paid
# The relay reports each upstream connection's handshake (full, or resumed with a TLS session
# ticket), so each measurement also says how many new upstream connections it needed.

RTT=${RTT:-40ms}
WAN_ROUNDS=${WAN_ROUNDS:-3}
WAN_N=${WAN_N:-20}
WAN_TOKEN_LIFETIME=${WAN_TOKEN_LIFETIME:-8s}
WAN_ROTATE=${WAN_ROTATE:-20s}
WAN_IDLE=${WAN_IDLE:-2s}

# start_relay EMU_PORT NAME: a relay to the emulator; sets RELAY_PID, RELAY_PORT, RELAY_OUT.
start_relay() {
  RELAY_OUT=$OUT/relay-$2.out
  rm -f "$RELAY_OUT" # so that the wait below cannot see an earlier run's line
  "$OUT/relay" -listen 127.0.0.1:0 -to "127.0.0.1:$1" -rtt "$RTT" >"$RELAY_OUT" 2>"$OUT/relay-$2.log" &
  RELAY_PID=$!
  PIDS+=("$RELAY_PID")
  wait_until 10 grep -q '^relay listening on' "$RELAY_OUT" || die "the relay did not start: $(cat "$OUT/relay-$2.log")"
  [[ $(head -n1 "$RELAY_OUT") =~ 127\.0\.0\.1:([0-9]+) ]] || die "relay said: $(head -n1 "$RELAY_OUT")"
  RELAY_PORT=${BASH_REMATCH[1]}
}

# hs_count FILE: how many handshakes (RELAYHS lines) a relay has reported so far.
hs_count() { grep -c '^RELAYHS ' "$1" || true; }

# handshakes FILE [SKIP]: "new=N full=N resumed=N" over the RELAYHS lines after the first SKIP.
handshakes() {
  awk -v skip="${2:-0}" '/^RELAYHS / && ++seen > skip { n++; if ($4 == "resumed=1") r++ }
    END { printf "new=%d full=%d resumed=%d", n, n - r, r }' "$1"
}

# idle_key: "idle_timeout: WAN_IDLE" when this dbaas-proxy accepts upstream.idle_timeout.
IDLE_KEY=unknown
probe_idle_key() {
  cat >"$OUT/probe.yaml" <<EOF
upstream:
  url: https://127.0.0.1:1
  ca_file: $OUT/ca.pem
  idle_timeout: $WAN_IDLE
auth:
  api_key_file: $OUT/apikey
EOF
  if "$OUT/dbaas-proxy" validate -config "$OUT/probe.yaml" >"$OUT/probe.log" 2>&1; then
    IDLE_KEY=yes
  elif grep -q idle_timeout "$OUT/probe.log"; then
    IDLE_KEY=no
  else
    die "dbaas-proxy validate failed on the probe config: $(tail -n3 "$OUT/probe.log")"
  fi
}

# start_wan_proxy NAME UPSTREAM_PORT HTTP2 [WAIT]: a dbaas-proxy with its defaults (and a short
# upstream.idle_timeout when the key exists) in front of the relay; sets WP_PID, WP_PORT,
# WP_ADMIN. With WAIT=wait it waits for readiness.
start_wan_proxy() {
  local name=$1 idle=""
  free_port && WP_PORT=$PORT
  free_port && WP_ADMIN=$PORT
  [[ $IDLE_KEY != yes ]] || idle="  idle_timeout: $WAN_IDLE"
  cat >"$OUT/wan-$name.yaml" <<EOF
listen: 127.0.0.1:$WP_PORT
upstream:
  url: https://127.0.0.1:$2
  ca_file: $OUT/ca.pem
  http2: $3
$idle
auth:
  api_key_file: $OUT/apikey
log:
  level: info
  format: json
admin:
  listen: 127.0.0.1:$WP_ADMIN
EOF
  "$OUT/dbaas-proxy" -config "$OUT/wan-$name.yaml" 2>>"$OUT/wan-$name.log" &
  WP_PID=$!
  PIDS+=("$WP_PID")
  [[ ${4:-} != wait ]] || wait_until 30 curl -sf "http://127.0.0.1:$WP_ADMIN/readyz" ||
    die "dbaas-proxy ($name) did not become ready: $(tail -n5 "$OUT/wan-$name.log")"
}

# kv_line PREFIX FILE: the key=value words of the first line starting with PREFIX.
kv_line() { grep -m1 "^$1 " "$2" | cut -d' ' -f2- || die "no $1 line in $2: $(tail -n3 "$2")"; }

# wan_row PART VARIANT ROUND KV...: one result row (part,variant,round,key,value per key).
wan_row() {
  local part=$1 variant=$2 round=$3 kv
  shift 3
  for kv; do echo "$part,$variant,$round,${kv%%=*},${kv#*=}" >>"$WAN_CSV"; done
  echo "wan: round $round $part $variant: $*" >&2
}

wan_oneshot() {
  local round=$1 base="/api/v3/$USER_ID/services" v out hs0
  for v in proxy direct-cached direct-dance; do
    out=$OUT/raw/wan-oneshot-$v-$round.txt
    hs0=$(hs_count "$RELAY_OUT")
    case $v in
      proxy) "$OUT/client" oneshot -name "$v" -n "$WAN_N" -url "http://127.0.0.1:$WP_PORT$base" >"$out" ;;
      direct-cached) "$OUT/client" oneshot -name "$v" -n "$WAN_N" -ca "$OUT/ca.pem" -token "$TOKEN" \
        -url "https://127.0.0.1:$RELAY_PORT$base" >"$out" ;;
      direct-dance) "$OUT/client" oneshot -name "$v" -n "$WAN_N" -ca "$OUT/ca.pem" -key-file "$OUT/apikey" \
        -dance "https://127.0.0.1:$RELAY_PORT/api/v1/auth/token" -url "https://127.0.0.1:$RELAY_PORT$base" >"$out" ;;
    esac
    sleep 0.3 # the relay prints a handshake when the server's first bytes arrive
    # shellcheck disable=SC2046
    wan_row oneshot "$v" "$round" $(kv_line ONESHOT "$out") $(handshakes "$RELAY_OUT" "$hs0")
  done
}

wan_burst() {
  local round=$1 h2 name out
  for h2 in false true; do
    name=burst-http1
    [[ $h2 == false ]] || name=burst-http2
    start_relay "$EMU_PORT" "$name-$round"
    out=$OUT/raw/wan-$name-$round.txt
    start_wan_proxy "$name" "$RELAY_PORT" "$h2"
    "$OUT/client" burst -name "$name" -n 64 -ready "http://127.0.0.1:$WP_ADMIN/readyz" \
      -url "http://127.0.0.1:$WP_PORT/api/v3/$USER_ID/services" >"$out" 2>"$out.err" ||
      die "burst failed: $(tail -n3 "$out.err")"
    sleep 0.3
    # shellcheck disable=SC2046
    wan_row burst "$name" "$round" $(kv_line BURST "$out") $(handshakes "$RELAY_OUT")
    stop_pid "$WP_PID"
    stop_pid "$RELAY_PID"
  done
}

wan_quiet() {
  local round=$1 out quiet hs0
  if [[ $IDLE_KEY == yes ]]; then quiet=$(($(to_seconds "$WAN_IDLE") + 2)); else quiet=${WAN_QUIET:-95}; fi
  out=$OUT/raw/wan-quiet-$round.txt
  "$OUT/client" oneshot -n 1 -url "http://127.0.0.1:$WP_PORT/api/v3/$USER_ID/services" >/dev/null
  sleep "$quiet"
  hs0=$(hs_count "$RELAY_OUT")
  "$OUT/client" oneshot -name quiet -n 1 -url "http://127.0.0.1:$WP_PORT/api/v3/$USER_ID/services" >"$out"
  sleep 0.3
  # shellcheck disable=SC2046
  wan_row quiet "after-${quiet}s" "$round" $(kv_line ONESHOT "$out") $(handshakes "$RELAY_OUT" "$hs0")
}

wan_rotate() {
  local round=$1 out hs0
  out=$OUT/raw/wan-rotate-$round.txt
  hs0=$(hs_count "$RELAY_OUT")
  "$OUT/client" load -name rotate -c 16 -d "$WAN_ROTATE" -slow "$(awk -v r="${RTT%ms}" 'BEGIN { print 2 * r "ms" }')" \
    -metrics "http://127.0.0.1:$WP_ADMIN/metrics" -url "http://127.0.0.1:$WP_PORT/api/v3/$USER_ID/services" >"$out"
  sleep 0.3
  # shellcheck disable=SC2046
  wan_row rotate "tokens-$WAN_TOKEN_LIFETIME" "$round" $(kv_line LOAD "$out") $(handshakes "$RELAY_OUT" "$hs0")
}

wan_main() {
  local round main_relay main_out
  ensure_tools
  build
  WAN_CSV=$OUT/wan.csv
  echo "part,variant,round,key,value" >"$WAN_CSV"
  start_emulator 1h 0
  probe_idle_key
  TOKEN=$(curl -sf --cacert "$OUT/ca.pem" -H "api_key: $(<"$OUT/apikey")" "https://127.0.0.1:$EMU_PORT/api/v1/auth/token" |
    sed -E 's/.*"access_token": *"([^"]+)".*/\1/')
  [[ -n $TOKEN ]] || die "no token from the emulator"
  for ((round = 1; round <= WAN_ROUNDS; round++)); do
    wan_burst "$round"
  done
  start_relay "$EMU_PORT" main
  main_relay=$RELAY_PORT main_out=$RELAY_OUT
  start_wan_proxy main "$main_relay" false wait
  "$OUT/client" oneshot -n 3 -url "http://127.0.0.1:$WP_PORT/api/v3/$USER_ID/services" >/dev/null # warm
  for ((round = 1; round <= WAN_ROUNDS; round++)); do
    RELAY_OUT=$main_out RELAY_PORT=$main_relay wan_oneshot "$round"
  done
  QUIET_ROUNDS=${QUIET_ROUNDS:-2}
  for ((round = 1; round <= QUIET_ROUNDS; round++)); do
    RELAY_OUT=$main_out wan_quiet "$round"
  done
  # token rotation: a second emulator with short-lived tokens, its relay and proxy
  mv "$OUT/emulator.out" "$OUT/emulator-main.out"
  start_emulator "$WAN_TOKEN_LIFETIME" 0
  start_relay "$EMU_PORT" rotate
  start_wan_proxy rotate "$RELAY_PORT" false wait
  for ((round = 1; round <= WAN_ROUNDS; round++)); do wan_rotate "$round"; done
  write_wan_results
}

# wan_summary: per part, variant and key, the median (min–max) over the rounds, in Markdown.
wan_summary() {
  awk -F, -v rtt="${RTT%ms}" '
    NR == 1 { next }
    { k = $1 SUBSEP $2 SUBSEP $4; n[k]++; v[k, n[k]] = $5; if (!(k in seen)) { seen[k] = 1; order[++m] = k } }
    function stat(k, i, j, c, a, t) {
      c = n[k]; for (i = 1; i <= c; i++) a[i] = v[k, i] + 0
      for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      med = (c % 2) ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
      return c > 1 ? sprintf("%g (%g–%g)", med, a[1], a[c]) : sprintf("%g", med)
    }
    END {
      for (i = 1; i <= m; i++) {
        split(order[i], p, SUBSEP)
        if (p[3] == "name") continue
        line = stat(order[i])
        rt = ""
        if (p[3] ~ /_ms$/ && rtt > 0) rt = sprintf(" = %.2f RTT", med / rtt)
        printf "| %s | %s | %s | %s%s |\n", p[1], p[2], p[3], line, rt
      }
    }' "$WAN_CSV"
}

write_wan_results() {
  local out=${WAN_RESULTS:-$OUT/RESULTS.wan.md} table rtt_ms=${RTT%ms} idle_note
  table=$(wan_summary)
  case $IDLE_KEY in
    yes) idle_note="upstream.idle_timeout: $WAN_IDLE in the proxies' config" ;;
    *) idle_note="upstream.idle_timeout is not a config key of this dbaas-proxy: the pool's built-in 90 s idle timeout applies, quiet period ${WAN_QUIET:-95} s" ;;
  esac
  {
    echo "## WAN mode ($(date -u '+%Y-%m-%d %H:%M UTC'), RTT $RTT)"
    echo
    machine_lines
    echo "- Command: \`RTT=$RTT WAN_ROUNDS=$WAN_ROUNDS WAN_N=$WAN_N WAN_TOKEN_LIFETIME=$WAN_TOKEN_LIFETIME WAN_ROTATE=$WAN_ROTATE bench/run.sh wan\`"
    echo "- $idle_note"
    echo "- Targets: oneshot through the proxy p90 ≤ 1.5 × RTT + 10 ms = $(awk -v r="$rtt_ms" 'BEGIN { print 1.5 * r + 10 }') ms;" \
      "burst last answer ≤ 2 × RTT + 20 ms = $(awk -v r="$rtt_ms" 'BEGIN { print 2 * r + 20 }') ms after readiness;" \
      "rotate: near-refresh p99 and max like the rest (no request waits for the refresh);" \
      "quiet: at most one resumed handshake, no full one."
    echo
    echo "| part | variant | figure | median (min–max) over the rounds |"
    echo "|---|---|---|---|"
    echo "$table"
  } >"$out"
  cat "$out"
  echo "run.sh: wrote $out (raw: $WAN_CSV)" >&2
}
