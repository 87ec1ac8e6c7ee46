#!/usr/bin/env bash
# Measures s3-acl-proxy against a tuned nginx doing a plain proxy_pass and against a direct
# connection, all in front of one throwaway Ceph RGW on loopback, and prints ratios.
# Every number is relative to a baseline measured in the same run; nothing is hard-coded.
#
# Usage: bench/run.sh            (needs: scripts/install-deps.sh bench, and build/s3-acl-proxy)
# Env (all optional):
#   PROXY_BIN        the proxy executable (build/s3-acl-proxy; build it Release)
#   RESULTS_DIR      where raw output and the summary go (bench/results/<UTC time>)
#   THREADS          proxy threads / nginx workers, one variant each ("1 2")
#   DURATION         seconds per wrk run (5; at most 10)
#   CONNECTIONS      wrk keep-alive connections for the throughput runs (16)
#   LARGE_MIB        size of the large object (256)
#   DOWNLOAD_RUNS, UPLOAD_RUNS   repetitions per target, the median is reported (3, 2)
#   CONCURRENT_UPLOADS, CONCURRENT_MIB   the per-upload memory run (16 uploads of 16 MiB)
#   PIN              1: load generator on CPU 0, servers (RGW, nginx, proxy) on CPU 1; 0: no
#                    pinning (0; see bench/README.md for why)
#   LOAD_WAIT_S      wait up to this long for a 1-minute load average under 2 (60)
#   RGW_PORT MON_PORT OSD_PORT_MIN   the throwaway RGW's ports (7580 47950 48050)
#   BASE_PORT        first of the loopback ports for nginx and the proxy (7600)
set -euo pipefail
unset CEPH_CONF CEPH_ARGS

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
PROXY_BIN=${PROXY_BIN:-$ROOT/build/s3-acl-proxy}
THREADS=${THREADS:-"1 2"}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-16}
LARGE_MIB=${LARGE_MIB:-256}
DOWNLOAD_RUNS=${DOWNLOAD_RUNS:-3}
UPLOAD_RUNS=${UPLOAD_RUNS:-2}
CONCURRENT_UPLOADS=${CONCURRENT_UPLOADS:-16}
CONCURRENT_MIB=${CONCURRENT_MIB:-16}
PIN=${PIN:-0}
LOAD_WAIT_S=${LOAD_WAIT_S:-60}
export RGW_PORT=${RGW_PORT:-7580} MON_PORT=${MON_PORT:-47950} OSD_PORT_MIN=${OSD_PORT_MIN:-48050}
BASE_PORT=${BASE_PORT:-7600}

# A load run longer than this says nothing more on a 2-core machine and keeps others waiting.
MAX_DURATION=10
# The whole bench must stop by itself; it normally takes about 2 minutes.
MAX_TOTAL_S=300
# The 1-minute load average under which the machine counts as quiet (2 cores).
QUIET_LOAD=2
# Small enough to be all header and latency, the size of a Mastodon avatar thumbnail.
SMALL_BYTES=1024
# Upper bound for one curl transfer: 256 MiB at a slow 10 MiB/s still fits.
CURL_MAX_TIME=60
# The per-upload memory run slows each upload to this rate so that all of them are in
# flight at the same time, whatever the machine's speed (16 MiB at 16 MiB/s = about 1 s).
CONCURRENT_RATE=16M
REGION=us-east-1
CLIENT_AK=BENCHCLIENTKEY000001
CLIENT_SK=benchclientsecretbenchclientsecret000001
BUCKET=bench
FIRST_T=${THREADS%% *}

die() { echo "bench: $*" >&2; exit 1; }
[ "$DURATION" -ge 1 ] && [ "$DURATION" -le "$MAX_DURATION" ] || die "DURATION must be 1..$MAX_DURATION"
[ -x "$PROXY_BIN" ] || die "$PROXY_BIN not found: cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2"
for cmd in wrk nginx curl taskset python3 sha256sum; do
  command -v "$cmd" >/dev/null || die "$cmd not found (run scripts/install-deps.sh bench)"
done

RES=${RESULTS_DIR:-$BENCH/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$RES"
RES=$(cd "$RES" && pwd)
W=$(mktemp -d /tmp/s3p-bench.XXXXXX)
RECORDS=$RES/records.txt
: >"$RECORDS"
FAILED=0

# --- processes this script starts, and their cleanup -----------------------------------
PIDS=()
RGW_DIR=$W/rgw
watchdog=
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -f "$RGW_DIR/ceph.conf" ] && "$ROOT/scripts/rgw-stop.sh" "$RGW_DIR" >/dev/null 2>&1 || true
  [ -n "$watchdog" ] && kill "$watchdog" 2>/dev/null || true
  rm -rf -- "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# The sleep is killed with its subshell, so no stray process keeps the caller's pipe open.
( trap 'kill "$sp" 2>/dev/null; exit 0' TERM
  sleep "$MAX_TOTAL_S" & sp=$!
  wait "$sp" && { echo "bench: still running after ${MAX_TOTAL_S}s, stopping" >&2; kill -TERM $$; } ) &
watchdog=$!

# With PIN=1 the load generator and the servers never compete for one core.
LOAD_CPU=0
SERVER_CPU=1
# Command prefixes, not functions: a function run with & would make $! a subshell's pid.
ON_SERVERS=()
ON_LOAD=()
if [ "$PIN" = 1 ]; then
  ON_SERVERS=(taskset -c "$SERVER_CPU")
  ON_LOAD=(taskset -c "$LOAD_CPU")
fi

record() { echo "$*" >>"$RECORDS"; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
port_in_use() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
presign() { python3 "$BENCH/presign.py" "$@" "$REGION"; }
rss_kib() { awk -v f="$2" '$1 == f":" { print $2 }' "/proc/$1/status"; }
# nginx's memory is its master's plus its workers'.
tree_rss_kib() {
  local pid sum=0
  for pid in "$1" $(pgrep -P "$1"); do sum=$((sum + $(rss_kib "$pid" VmRSS))); done
  echo "$sum"
}
# Resets VmHWM to the current RSS, so the next reading is the peak of what follows.
reset_peak() { echo 5 >"/proc/$1/clear_refs"; }

wait_http() {  # URL: until anything answers (50 x 0.1 s)
  for _ in $(seq 1 50); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  die "nothing answers on $1"
}

# --- a quiet machine ---------------------------------------------------------------------
waited=0
while ! below "$(loadavg)" "$QUIET_LOAD" && [ "$waited" -lt "$LOAD_WAIT_S" ]; do
  sleep 5
  waited=$((waited + 5))
done
record "env load_start=$(loadavg) waited_s=$waited pin=$PIN duration_s=$DURATION connections=$CONNECTIONS" \
  "large_mib=$LARGE_MIB cpus=$(nproc)"
below "$(loadavg)" "$QUIET_LOAD" || echo "bench: load average $(loadavg) is not under $QUIET_LOAD; numbers will be noisy" >&2
{ uname -a; nproc; grep -m1 'model name' /proc/cpuinfo; nginx -v 2>&1; wrk -v 2>&1 | head -1
  curl --version | head -1; "$PROXY_BIN" --version; uptime; } >"$RES/machine.txt" 2>&1 || true

# --- ports -------------------------------------------------------------------------------
# Per thread count: nginx and the proxy in front of the RGW, and both again in front of
# the static origin. One origin, and one proxy kept fresh for the memory run.
declare -A NGINX_PORT PROXY_PORT ADMIN_PORT
i=0
for t in $THREADS; do
  NGINX_PORT[$t]=$((BASE_PORT + 10 * i))
  PROXY_PORT[$t]=$((BASE_PORT + 10 * i + 1))
  ADMIN_PORT[$t]=$((BASE_PORT + 10 * i + 2))
  NGINX_PORT[s$t]=$((BASE_PORT + 10 * i + 3))
  PROXY_PORT[s$t]=$((BASE_PORT + 10 * i + 4))
  ADMIN_PORT[s$t]=$((BASE_PORT + 10 * i + 5))
  i=$((i + 1))
done
ORIGIN_PORT=$((BASE_PORT + 90))
PROXY_PORT[mem]=$((BASE_PORT + 95))
ADMIN_PORT[mem]=$((BASE_PORT + 96))
for p in "$RGW_PORT" "$ORIGIN_PORT" "${NGINX_PORT[@]}" "${PROXY_PORT[@]}" "${ADMIN_PORT[@]}"; do
  ! port_in_use "$p" || die "port $p is already in use"
done

# --- the RGW, the bucket and the objects -----------------------------------------------
echo "bench: starting the RGW on 127.0.0.1:$RGW_PORT" >&2
"${ON_SERVERS[@]}" "$ROOT/scripts/rgw-start.sh" "$RGW_DIR" >"$W/rgw.env" 2>"$RES/rgw-start.log"
# shellcheck disable=SC1091
. "$W/rgw.env"
# RGW 16's beast frontend leaves Nagle's algorithm on: every small response then waits
# ~40 ms for a delayed ACK, and all three targets measure that timer instead of a server.
# Restart the gateway (started above by this script) with tcp_nodelay=1.
if ! grep -q '^rgw frontends = .*tcp_nodelay' "$RGW_CONF"; then
  rgw_pid=$(tr -dc '0-9' <"$RGW_DIR/run/client.rgw.pid")
  kill -TERM "$rgw_pid"
  for _ in $(seq 1 100); do kill -0 "$rgw_pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$rgw_pid" 2>/dev/null && kill -KILL "$rgw_pid"
  sed -i 's|^\(rgw frontends = beast .*\)$|\1 tcp_nodelay=1|' "$RGW_CONF"
  "${ON_SERVERS[@]}" radosgw -c "$RGW_CONF" --no-mon-config -n client.rgw 2>>"$RES/rgw-start.log"
  wait_http "http://127.0.0.1:$RGW_PORT/"
fi
AK=$RGW_ACCESS_KEY
SK=$RGW_SECRET_KEY
DIRECT=http://127.0.0.1:$RGW_PORT
# curl reads the key from a file, never from its command line.
printf 'user = "%s:%s"\n' "$AK" "$SK" >"$W/curl-rgw.conf"
printf 'user = "%s:%s"\n' "$CLIENT_AK" "$CLIENT_SK" >"$W/curl-client.conf"
chmod 600 "$W"/curl-*.conf
EMPTY_SHA=$(sha256sum </dev/null | cut -d' ' -f1)
curl -sf -o /dev/null --aws-sigv4 "aws:amz:$REGION:s3" -K "$W/curl-rgw.conf" \
  -H "x-amz-content-sha256: $EMPTY_SHA" -X PUT "$DIRECT/$BUCKET" || die "cannot create bucket $BUCKET"

head -c "$SMALL_BYTES" /dev/urandom >"$W/small"
head -c "$((LARGE_MIB * 1048576))" /dev/urandom >"$W/large"
head -c "$((CONCURRENT_MIB * 1048576))" /dev/urandom >"$W/medium"
LARGE_SHA=$(sha256sum "$W/large" | cut -d' ' -f1)
LARGE_BYTES=$((LARGE_MIB * 1048576))
for obj in small large; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time "$CURL_MAX_TIME" -T "$W/$obj" \
    "$(presign PUT "$DIRECT/$BUCKET/$obj" "$AK" "$SK")")
  [ "$code" = 200 ] || die "PUT $obj directly: HTTP $code"
done

# Overwritten objects leave their data to RGW's garbage collector, which by default waits
# two hours; the in-memory OSD holds 2 GiB, so the bench collects after every upload round.
gc_now() { radosgw-admin -c "$RGW_CONF" gc process --include-all >/dev/null 2>&1 || true; }

# --- nginx and the proxy, one of each per thread count ---------------------------------
start_nginx() {  # SLOT WORKERS UPSTREAM_PORT [TEMPLATE]
  local slot=$1 t=$2 up=$3 tmpl=${4:-$BENCH/nginx.conf.in} d=$W/nginx-$1
  mkdir -p "$d"
  sed -e "s|@WORKERS@|$t|g" -e "s|@PORT@|${NGINX_PORT[$slot]}|g" -e "s|@UPSTREAM@|127.0.0.1:$up|g" \
    -e "s|@DIR@|$d|g" -e "s|@ROOT@|$W/origin|g" "$tmpl" >"$d/nginx.conf"
  cp "$d/nginx.conf" "$RES/nginx-$slot.conf"
  "${ON_SERVERS[@]}" nginx -p "$d" -e "$d/error.log" -c "$d/nginx.conf" &
  PIDS+=($!)
  NGINX_PID[$slot]=$!
  wait_http "http://127.0.0.1:${NGINX_PORT[$slot]}/"
}

start_proxy() {  # SLOT THREADS UPSTREAM_PORT
  local slot=$1 t=$2 up=$3 conf=$W/proxy-$1.toml
  cat >"$conf" <<EOF
[server]
listen = "127.0.0.1:${PROXY_PORT[$slot]}"
admin_listen = "127.0.0.1:${ADMIN_PORT[$slot]}"
threads = $t

[upstream]
endpoint = "http://127.0.0.1:$up"
region = "$REGION"
access_key_id = "$AK"
secret_access_key_env = "BENCH_UPSTREAM_SECRET"

[[clients]]
access_key_id = "$CLIENT_AK"
secret_access_key_env = "BENCH_CLIENT_SECRET"

[acl]
mode = "strip"

[audit]
path = "$RES/proxy-$slot.audit.log"
level = "info"
EOF
  cp "$conf" "$RES/proxy-$slot.toml"
  BENCH_UPSTREAM_SECRET=$SK BENCH_CLIENT_SECRET=$CLIENT_SK \
    "${ON_SERVERS[@]}" "$PROXY_BIN" --config "$conf" >"$RES/proxy-$slot.out" 2>&1 &
  PIDS+=($!)
  PROXY_PID[$slot]=$!
  wait_http "http://127.0.0.1:${ADMIN_PORT[$slot]}/healthz"
}

# The static origin answers every GET with the small object and checks no signature: in
# front of it, nginx and the proxy are measured without the RGW's CPU cost in the way.
# nginx workers run as nobody: the origin's file and the path to it must be world-readable.
mkdir -p "$W/origin"
cp "$W/small" "$W/origin/small"
chmod 755 "$W" "$W/origin"
chmod 644 "$W/origin/small"
declare -A NGINX_PID PROXY_PID
NGINX_PORT[origin]=$ORIGIN_PORT
start_nginx origin 1 0 "$BENCH/nginx-origin.conf.in"
for t in $THREADS; do
  start_nginx "$t" "$t" "$RGW_PORT"
  start_proxy "$t" "$t" "$RGW_PORT"
  start_nginx "s$t" "$t" "$ORIGIN_PORT"
  start_proxy "s$t" "$t" "$ORIGIN_PORT"
done
start_proxy mem "$FIRST_T" "$RGW_PORT"
sleep 1  # let start-up allocations settle before the idle reading
for t in $THREADS; do
  record "rss proxy-t$t phase=idle_start vmrss_kib=$(rss_kib "${PROXY_PID[$t]}" VmRSS)"
  record "rss nginx-t$t phase=idle_start vmrss_kib=$(tree_rss_kib "${NGINX_PID[$t]}")"
done

# Who signs for which host: a presigned URL covers the Host the client connects to. nginx
# passes Host through, so its URLs are signed with the RGW key; the proxy's with the client
# key, which the proxy verifies before re-signing with the RGW key.
# ORIGIN=static addresses the static origin and the servers in front of it instead.
ORIGIN=rgw
url_for() {  # TARGET METHOD OBJECT
  local target=$1 method=$2 obj=$3 t s=
  [ "$ORIGIN" = static ] && s=s
  case $target in
    direct) if [ -n "$s" ]; then presign "$method" "http://127.0.0.1:$ORIGIN_PORT/$BUCKET/$obj" "$AK" "$SK"
            else presign "$method" "$DIRECT/$BUCKET/$obj" "$AK" "$SK"; fi ;;
    nginx-t*) t=$s${target#nginx-t}; presign "$method" "http://127.0.0.1:${NGINX_PORT[$t]}/$BUCKET/$obj" "$AK" "$SK" ;;
    proxy-t*) t=$s${target#proxy-t}; presign "$method" "http://127.0.0.1:${PROXY_PORT[$t]}/$BUCKET/$obj" "$CLIENT_AK" "$CLIENT_SK" ;;
    proxy-mem) presign "$method" "http://127.0.0.1:${PROXY_PORT[mem]}/$BUCKET/$obj" "$CLIENT_AK" "$CLIENT_SK" ;;
  esac
}
base_for() {  # TARGET -> base URL and curl key file
  local target=$1 t
  case $target in
    direct) echo "$DIRECT $W/curl-rgw.conf" ;;
    nginx-t*) t=${target#nginx-t}; echo "http://127.0.0.1:${NGINX_PORT[$t]} $W/curl-rgw.conf" ;;
    proxy-t*) t=${target#proxy-t}; echo "http://127.0.0.1:${PROXY_PORT[$t]} $W/curl-client.conf" ;;
  esac
}

TARGETS=(direct)
for t in $THREADS; do TARGETS+=("nginx-t$t" "proxy-t$t"); done

# --- 1. small GETs over keep-alive connections -------------------------------------------
wrk_run() {  # SECTION TARGET CONNECTIONS SECONDS
  local section=$1 target=$2 conns=$3 secs=$4 url out line
  url=$(url_for "$target" GET small)
  out=$RES/wrk-$section-$target.txt
  "${ON_LOAD[@]}" wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s -s "$BENCH/report.lua" "$url" >"$out" 2>&1 || true
  line=$(grep '^RESULT ' "$out" | tail -1) || { echo "bench: wrk failed for $target, see $out" >&2; FAILED=1; return; }
  record "$section $target connections=$conns ${line#RESULT }"
  # A fast 403 is not a result: every answer must have been a 2xx.
  if ! grep -q 'err_connect=0 err_read=0 err_write=0 err_status=0 err_timeout=0' <<<"$line"; then
    echo "bench: $target answered errors during $section (see $out)" >&2
    FAILED=1
  fi
}

small_gets() {  # SUFFIX for the record sections ("" for the RGW, _static)
  local sfx=$1 target code
  for target in "${TARGETS[@]}"; do
    code=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "$(url_for "$target" GET small)")
    [ "$code" = "200 $SMALL_BYTES" ] || die "GET small via $target ($ORIGIN): $code"
  done
  echo "bench: small GETs from the $ORIGIN origin, $CONNECTIONS connections, ${DURATION}s per target" >&2
  for target in "${TARGETS[@]}"; do
    wrk_run "warmup$sfx" "$target" "$CONNECTIONS" 1
    wrk_run "rps$sfx" "$target" "$CONNECTIONS" "$DURATION"
  done
  # Added latency is read on one connection, where no request waits behind another.
  echo "bench: small GET latency from the $ORIGIN origin, 1 connection" >&2
  for target in direct "nginx-t$FIRST_T" "proxy-t$FIRST_T"; do
    wrk_run "latency$sfx" "$target" 1 "$DURATION"
  done
}
small_gets ""
ORIGIN=static
small_gets _static
ORIGIN=rgw
for t in $THREADS; do
  record "rss proxy-t$t phase=after_gets vmrss_kib=$(rss_kib "${PROXY_PID[$t]}" VmRSS) vmhwm_kib=$(rss_kib "${PROXY_PID[$t]}" VmHWM)"
done

# --- 2. large downloads ------------------------------------------------------------------
echo "bench: ${LARGE_MIB} MiB downloads, $DOWNLOAD_RUNS runs per target" >&2
DL_TARGETS=(direct "nginx-t$FIRST_T" "proxy-t$FIRST_T")
for run in $(seq 1 "$DOWNLOAD_RUNS"); do
  for target in "${DL_TARGETS[@]}"; do
    read -r code size speed total < <("${ON_LOAD[@]}" curl -s -o /dev/null --max-time "$CURL_MAX_TIME" \
      -w '%{http_code} %{size_download} %{speed_download} %{time_total}\n' "$(url_for "$target" GET large)")
    if [ "$code" != 200 ] || [ "$size" != "$LARGE_BYTES" ]; then
      echo "bench: download via $target: HTTP $code, $size bytes" >&2
      FAILED=1
      continue
    fi
    record "download $target run=$run bytes_per_s=$speed time_s=$total"
  done
done

# --- 3. large uploads --------------------------------------------------------------------
upload() {  # MODE TARGET RUN
  local mode=$1 target=$2 run=$3 base keyfile out code speed total
  read -r base keyfile < <(base_for "$target")
  out=$RES/upload-$mode-$target-$run.body
  if [ "$mode" = presigned ]; then
    read -r code speed total < <("${ON_LOAD[@]}" curl -s -o "$out" --max-time "$CURL_MAX_TIME" \
      -w '%{http_code} %{speed_upload} %{time_total}\n' -T "$W/large" "$(url_for "$target" PUT "up-$target")")
  else
    read -r code speed total < <("${ON_LOAD[@]}" curl -s -o "$out" --max-time "$CURL_MAX_TIME" \
      -w '%{http_code} %{speed_upload} %{time_total}\n' --aws-sigv4 "aws:amz:$REGION:s3" -K "$keyfile" \
      -H "x-amz-content-sha256: $LARGE_SHA" -T "$W/large" "$base/$BUCKET/up-$target")
  fi
  if [ "$code" != 200 ]; then
    echo "bench: $mode upload via $target: HTTP $code (see $out)" >&2
    FAILED=1
    return
  fi
  record "upload_$mode $target run=$run bytes_per_s=$speed time_s=$total"
}

echo "bench: ${LARGE_MIB} MiB uploads (presigned UNSIGNED-PAYLOAD and header-signed hex), $UPLOAD_RUNS runs" >&2
for t in $THREADS; do reset_peak "${PROXY_PID[$t]}"; done
UP_TARGETS=(direct "nginx-t$FIRST_T" "proxy-t$FIRST_T")
for run in $(seq 1 "$UPLOAD_RUNS"); do
  for mode in presigned hex; do
    for target in "${UP_TARGETS[@]}"; do upload "$mode" "$target" "$run"; done
    gc_now
  done
done
p=${PROXY_PID[$FIRST_T]}
record "rss proxy-t$FIRST_T phase=large_uploads vmrss_kib=$(rss_kib "$p" VmRSS) vmhwm_kib=$(rss_kib "$p" VmHWM)"

# --- 4. memory per upload: many uploads in flight at once ------------------------------
# On a proxy that has served nothing yet: memory the allocator kept from earlier runs would
# otherwise absorb the uploads' buffers and hide them.
echo "bench: $CONCURRENT_UPLOADS concurrent ${CONCURRENT_MIB} MiB uploads through a fresh proxy" >&2
p=${PROXY_PID[mem]}
before=$(rss_kib "$p" VmRSS)
reset_peak "$p"
cpids=()
for n in $(seq 1 "$CONCURRENT_UPLOADS"); do
  "${ON_LOAD[@]}" curl -s -o /dev/null --max-time "$CURL_MAX_TIME" --limit-rate "$CONCURRENT_RATE" \
    -w '%{http_code}\n' -T "$W/medium" "$(url_for proxy-mem PUT "concurrent-$n")" >"$W/concurrent-$n.code" &
  cpids+=($!)
done
for c in "${cpids[@]}"; do wait "$c" || true; done
ok=$(cat "$W"/concurrent-*.code | grep -c '^200$' || true)
[ "$ok" = "$CONCURRENT_UPLOADS" ] || { echo "bench: only $ok of $CONCURRENT_UPLOADS concurrent uploads got 200" >&2; FAILED=1; }
record "rss proxy-mem-t$FIRST_T phase=concurrent_uploads uploads=$CONCURRENT_UPLOADS ok=$ok" \
  "before_kib=$before vmhwm_kib=$(rss_kib "$p" VmHWM)"
gc_now

sleep 1
for t in $THREADS; do
  record "rss proxy-t$t phase=idle_end vmrss_kib=$(rss_kib "${PROXY_PID[$t]}" VmRSS)"
done
record "env load_end=$(loadavg)"

python3 "$BENCH/summarize.py" "$RECORDS" | tee "$RES/summary.txt"
echo "bench: raw output in $RES" >&2
[ "$FAILED" = 0 ] || die "some runs failed; their numbers are missing or marked"
