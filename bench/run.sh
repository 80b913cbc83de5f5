#!/usr/bin/env bash
# bench/run.sh: dbaas-proxy beside nginx and a direct call to the DBaaS Manager emulator.
# What it measures and how to read the results: bench/README.md.
#
#   bench/run.sh               interleaved rounds (ROUNDS=5, DURATION=8s), writes bench/RESULTS.md
#   QUICK=1 bench/run.sh       smoke test: 1 round of 3 s, writes bench/out/RESULTS.quick.md
#   bench/run.sh soak 10m      moderate load through dbaas-proxy with 30 s tokens, revoked every 2 m
#   bench/run.sh abuse 10m     64 slow readers, 64 trickling uploaders and 200 normal clients at once
#   bench/run.sh go            the Go micro-benchmarks, appended to bench/RESULTS.md
#   bench/run.sh profile       perf profile of dbaas-proxy under wrk -c16, appended to bench/RESULTS.md
#
# Environment: ROUNDS, DURATION, STREAM_ROUNDS, QUICK, RESULTS (the results file), PROXY_ENV
# (VAR=VALUE words in dbaas-proxy's environment only, e.g. PROXY_ENV="GOGC=400"), PROXY_HTTP2
# (true: dbaas-proxy offers HTTP/2 to the upstream).
#
# Everything it writes besides the results goes to bench/out/ (git-ignored). Every process it
# starts is stopped on any exit.
set -euo pipefail
# 4000 connections and more: raise the soft limit on open files to the hard one (inherited by
# every process started here).
ulimit -n "$(ulimit -Hn)"
(($(ulimit -n) >= 10000)) || echo "run.sh: ulimit -n is $(ulimit -n); the 4000-connection run needs ~9000" >&2
PATH=$PATH:/usr/sbin:/sbin # nginx lives in /usr/sbin

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
OUT=$BENCH_DIR/out
MODE_ARG=${1:-}
MODE=${1:-bench}

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
  ROUNDS=${ROUNDS:-1} DURATION=${DURATION:-3s} STREAM_ROUNDS=${STREAM_ROUNDS:-1}
  RESULTS=${RESULTS:-$OUT/RESULTS.quick.md}
fi
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-8s}
STREAM_ROUNDS=${STREAM_ROUNDS:-3}
RESULTS=${RESULTS:-$BENCH_DIR/RESULTS.md}
STREAM_BYTES=$((256 << 20))
POST_BYTES=$((1 << 20))
CLK_TCK=$(getconf CLK_TCK)
CONTENDERS=(direct nginx plain dbaas-proxy)
WORKLOADS=(get-c1 get-c16 get-c128 post-1m-c8)

PIDS=() # every process started in the background, stopped by cleanup

die() {
  echo "run.sh: $*" >&2
  exit 1
}

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# stop_pid PID: stop one background process and forget it.
stop_pid() {
  kill "$1" 2>/dev/null || true
  reap_pid "$1"
}

# reap_pid PID: wait for one background process to end and forget it.
reap_pid() {
  local keep=() p
  wait "$1" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# ensure_tools: install wrk, nginx, curl, ss and pgrep with apt-get when one is missing.
ensure_tools() {
  local -A pkg=([wrk]=wrk [nginx]=nginx [curl]=curl [ss]=iproute2 [pgrep]=procps)
  local missing=() cmd sudo=()
  for cmd in "${!pkg[@]}"; do
    command -v "$cmd" >/dev/null || missing+=("${pkg[$cmd]}")
  done
  ((${#missing[@]})) || return 0
  [[ $(id -u) == 0 ]] || sudo=(sudo)
  echo "run.sh: installing ${missing[*]}" >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# build: the two binaries and the report program, into bench/out.
build() {
  mkdir -p "$OUT/raw"
  (cd "$ROOT" && go build -o "$OUT/" ./cmd/dbaas-proxy ./cmd/dbaas-emulator &&
    go build -o "$OUT/" ./bench/report ./bench/relay ./bench/plain ./bench/client)
}

# free_port: sets PORT to a TCP port nothing uses, below the ephemeral range.
USED_PORTS=" "
free_port() {
  local p _
  for _ in {1..200}; do
    p=$((21000 + RANDOM % 11000))
    [[ $USED_PORTS == *" $p "* ]] && continue
    if [[ -z $(ss -Htan "( sport = :$p or dport = :$p )") ]]; then
      USED_PORTS+="$p "
      PORT=$p
      return 0
    fi
  done
  die "no free port found"
}

# wait_until SECONDS COMMAND...: retry COMMAND every 0.1 s until it succeeds.
wait_until() {
  local tries=$(($1 * 10))
  shift
  while ! "$@" >/dev/null 2>&1; do
    ((--tries > 0)) || return 1
    sleep 0.1
  done
}

# start_emulator LIFETIME REVOKE_EVERY: sets EMU_PID, EMU_PORT, USER_ID.
start_emulator() {
  rm -f "$OUT/emulator.out"
  "$OUT/dbaas-emulator" -listen 127.0.0.1:0 -ca-out "$OUT/ca.pem" -key-out "$OUT/apikey" \
    -token-lifetime "$1" -revoke-every "$2" >"$OUT/emulator.out" 2>"$OUT/emulator.log" &
  EMU_PID=$!
  PIDS+=("$EMU_PID")
  wait_until 10 grep -q '^dbaas-emulator listening on' "$OUT/emulator.out" ||
    die "the emulator did not start: $(cat "$OUT/emulator.log")"
  local line
  line=$(head -n1 "$OUT/emulator.out")
  [[ $line =~ https://127\.0\.0\.1:([0-9]+)\ user_id\ ([0-9a-f]{32}) ]] || die "emulator said: $line"
  EMU_PORT=${BASH_REMATCH[1]} USER_ID=${BASH_REMATCH[2]}
}

# start_proxy [NAME LOG_LEVEL]: the real dbaas-proxy with its own config (NAME.yaml, NAME.log in
# bench/out; default dbaas-proxy, info); sets PROXY_PID, PROXY_PORT, ADMIN_PORT.
start_proxy() {
  local name=${1:-dbaas-proxy} level=${2:-info}
  free_port && PROXY_PORT=$PORT
  free_port && ADMIN_PORT=$PORT
  cat >"$OUT/$name.yaml" <<EOF
listen: 127.0.0.1:$PROXY_PORT
upstream:
  url: https://127.0.0.1:$EMU_PORT
  ca_file: $OUT/ca.pem
  http2: ${PROXY_HTTP2:-false}
auth:
  api_key_file: $OUT/apikey
log:
  level: $level
  format: json
admin:
  listen: 127.0.0.1:$ADMIN_PORT
EOF
  local extra=()
  read -ra extra <<<"${PROXY_ENV:-}" # e.g. PROXY_ENV="GOGC=400": for dbaas-proxy only
  env "${extra[@]}" "$OUT/dbaas-proxy" -config "$OUT/$name.yaml" 2>"$OUT/$name.log" &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  wait_until 15 curl -sf "http://127.0.0.1:$ADMIN_PORT/readyz" ||
    die "dbaas-proxy did not become ready: $(tail -n5 "$OUT/$name.log")"
}

# start_nginx TOKEN: nginx in front of the emulator with a fixed token; sets NGINX_PID,
# NGINX_PORT and NGINX_PIDS (master and workers).
start_nginx() {
  free_port && NGINX_PORT=$PORT
  mkdir -p "$OUT/nginx/tmp"
  write_nginx_conf "$1" >"$OUT/nginx/nginx.conf"
  chmod 600 "$OUT/nginx/nginx.conf" # it holds the token
  nginx -e "$OUT/nginx/error.log" -p "$OUT/nginx/" -c "$OUT/nginx/nginx.conf" &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  wait_until 10 curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/" ||
    die "nginx did not start: $(tail -n5 "$OUT/nginx/error.log")"
  mapfile -t NGINX_PIDS < <(echo "$NGINX_PID"; pgrep -P "$NGINX_PID")
  ((${#NGINX_PIDS[@]} > 1)) || die "nginx has no worker processes"
}

# start_plain TOKEN_FILE: bench/plain, a bare httputil.ReverseProxy with a fixed token and
# dbaas-proxy's pool settings; sets PLAIN_PID and PLAIN_PORT.
start_plain() {
  free_port && PLAIN_PORT=$PORT
  rm -f "$OUT/plain.out" # so that the wait below cannot see an earlier run's line
  local flags=()
  read -ra flags <<<"${PLAIN_FLAGS:-}"
  "$OUT/plain" -listen "127.0.0.1:$PLAIN_PORT" -upstream "https://127.0.0.1:$EMU_PORT" -ca "$OUT/ca.pem" \
    -token-file "$1" -http2="${PROXY_HTTP2:-false}" "${flags[@]}" >"$OUT/plain.out" 2>"$OUT/plain.log" &
  PLAIN_PID=$!
  PIDS+=("$PLAIN_PID")
  wait_until 10 grep -q '^plain listening on' "$OUT/plain.out" ||
    die "bench/plain did not start: $(cat "$OUT/plain.log")"
}

# write_nginx_conf TOKEN: nginx's best case as a token-attaching proxy. Request bodies and
# responses stream (no temp files), like dbaas-proxy; keep-alive is unlimited on both sides,
# like Go's; the access log is on, like dbaas-proxy's.
write_nginx_conf() {
  cat <<EOF
worker_processes auto;
daemon off;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 16384; }
http {
  access_log $OUT/nginx/access.log;
  client_body_temp_path $OUT/nginx/tmp/body;
  proxy_temp_path $OUT/nginx/tmp/proxy;
  fastcgi_temp_path $OUT/nginx/tmp/fastcgi;
  uwsgi_temp_path $OUT/nginx/tmp/uwsgi;
  scgi_temp_path $OUT/nginx/tmp/scgi;
  underscores_in_headers on;
  keepalive_requests 1000000;
  client_max_body_size 0;
  upstream dbaas {
    server 127.0.0.1:$EMU_PORT;
    keepalive 128;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass https://dbaas;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header x-auth-token "$1";
      proxy_ssl_verify on;
      proxy_ssl_verify_depth 2;
      proxy_ssl_trusted_certificate $OUT/ca.pem;
      proxy_ssl_name localhost;
      proxy_ssl_server_name on;
      proxy_ssl_session_reuse on;
      proxy_ssl_protocols TLSv1.2 TLSv1.3;
      proxy_request_buffering off;
      proxy_buffers 8 32k;
      proxy_max_temp_file_size 0;
    }
  }
}
EOF
}

# ticks PID...: the processes' utime+stime (fields 14 and 15 of /proc/PID/stat), summed.
ticks() {
  local pid s f sum=0
  for pid; do
    s=$(<"/proc/$pid/stat")
    read -ra f <<<"${s##*) }" # f[0] is field 3
    sum=$((sum + f[11] + f[12]))
  done
  echo "$sum"
}

# status_kb FIELD PID...: a /proc/PID/status field (VmRSS, VmHWM) in kB, summed.
status_kb() {
  local field=$1 pid sum=0 v
  shift
  for pid; do
    v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$pid/status")
    sum=$((sum + v))
  done
  echo "$sum"
}

# reset_hwm PID...: reset the processes' peak RSS (VmHWM).
reset_hwm() {
  local pid
  for pid; do echo 5 >"/proc/$pid/clear_refs"; done
}

# contender_pids NAME: the processes whose CPU counts for a contender.
contender_pids() {
  case $1 in
    direct) echo "$EMU_PID" ;;
    nginx) echo "${NGINX_PIDS[*]}" ;;
    plain) echo "$PLAIN_PID" ;;
    dbaas-proxy) echo "$PROXY_PID" ;;
    dbaas-proxy-nolog) echo "$NOLOG_PID" ;;
  esac
}

# set_target NAME: sets URL and AUTH (the extra request headers) for a contender.
set_target() {
  AUTH=()
  case $1 in
    direct) URL=https://127.0.0.1:$EMU_PORT AUTH=(-H "x-auth-token: $TOKEN") ;;
    nginx) URL=http://127.0.0.1:$NGINX_PORT ;;
    plain) URL=http://127.0.0.1:$PLAIN_PORT ;;
    dbaas-proxy-nolog) URL=http://127.0.0.1:$NOLOG_PORT ;;
    dbaas-proxy) URL=http://127.0.0.1:$PROXY_PORT ;;
  esac
}

# shellcheck source=modes.sh
source "$BENCH_DIR/modes.sh"

case $MODE in
  bench) bench_main ;;
  soak) soak_main "${2:-10m}" ;;
  abuse) abuse_main "${2:-10m}" ;;
  go) go_main ;;
  profile) profile_main ;;
  load) load_main ;;
  wan) wan_main ;;
  cpu) cpu_main ;;
  *) die "unknown mode $MODE (want: bench, load, wan, cpu, soak DURATION, abuse DURATION, go or profile)" ;;
esac
