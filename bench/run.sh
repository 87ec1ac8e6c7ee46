#!/usr/bin/env bash
# Measures s3-acl-proxy against the project's performance targets: every figure a ratio to a
# baseline measured in the same run (a tuned nginx doing a plain proxy_pass, or a direct
# connection), in front of a static origin (nginx serving files from tmpfs, PUTs into a
# sink), then a shorter run in front of a throwaway Ceph RGW. Prints, for each case, the
# figure, the target and met / not met; writes records.txt, summary.txt and summary.json.
#
# Usage: bench/run.sh             the full run, about 7 minutes (stops itself after 12)
#        SMOKE=1 bench/run.sh     every case end to end in tiny sizes and 1 s runs, no
#                                 thresholds, under a minute: for CI, so the bench never rots
# Exit:  0 every request got its 2xx (targets met or not: the summary says which);
#        1 a request failed, a tool failed, or the bench could not start.
# Needs: scripts/install-deps.sh bench, and build/s3-acl-proxy built Release.
# Env (all optional; the smoke defaults are in brackets):
#   PROXY_BIN        the proxy executable (build/s3-acl-proxy)
#   PYTHON           the python for the bench's helpers (Debian's /usr/bin/python3)
#   RESULTS_DIR      where raw output and the summary go (bench/results/<UTC time>)
#   THREADS          the proxy's threads = each nginx's workers (2: the product's default,
#                    one per core on this machine)
#   DURATION         seconds per load run against the static origin (5) [1]
#   ROUNDS           load runs per target, interleaved, median reported (3) [1]
#   PACED_S          seconds per paced-latency run (5) [1]
#   RGW_DURATION, RGW_ROUNDS   the same against the RGW (3, 2) [1, 1]
#   LARGE_MIB        the large object, 256..1024 (512) [4]
#   RUNS             repetitions of each large transfer, interleaved, median reported (5) [1]
#   RGW_LARGE_MIB, RGW_RUNS    the same against the RGW, which moves 60-140 MiB/s (256, 2) [4, 1]
#   IDLE_CONNS       idle keep-alive connections held for the memory reading (1000) [100]
#   CONCURRENT_UPLOADS, CONCURRENT_MIB, CONCURRENT_RATE   uploads in flight at once for the
#                    per-upload memory reading, their size and each one's rate limit
#                    (32, 256, 16M) [4, 2, 2M]
#   RGW              0 skips the RGW run (1)
#   LOAD_WAIT_S      wait up to this long for a 1-minute load average under 2 (60) [0]
#   TMPFS            a tmpfs for the objects, the bodies and the sink (/dev/shm; the full run
#                    needs 5 x LARGE_MIB + CONCURRENT_MIB + RGW_LARGE_MIB free)
#   RGW_PORT MON_PORT OSD_PORT_MIN   the throwaway RGW's ports (7580 7590 7620; below the
#                    ephemeral range, 32768 and up, where the bench's own connections could
#                    hold one: a full run once could not bind the monitor to 47950)
#   BASE_PORT        first of 11 loopback ports for the origin, nginx and the proxies (7600)
set -euo pipefail
unset CEPH_CONF CEPH_ARGS

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
SMOKE=${SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
  d_duration=1 d_rounds=1 d_paced=1 d_rgw_duration=1 d_rgw_rounds=1 d_large=4 d_runs=1
  d_rgw_large=4 d_rgw_runs=1 d_idle=100 d_conc=4 d_conc_mib=2 d_conc_rate=2M d_load_wait=0
  # The smoke run takes about 50 s, a fifth of it the RGW's start.
  MAX_TOTAL_S=150
else
  # Several short rounds, interleaved, rather than one long run per target: a burst of other
  # work on the machine then spoils one round of one target, not the target's figure.
  d_duration=5 d_rounds=3 d_paced=5 d_rgw_duration=3 d_rgw_rounds=2
  # Transfers long enough (0.2-2 s at this machine's speeds) that a scheduling hiccup of a
  # few milliseconds does not move the rate; 5 runs for a median.
  d_large=512 d_runs=5 d_rgw_large=256 d_rgw_runs=2
  d_idle=1000 d_conc=32 d_conc_mib=256 d_conc_rate=16M d_load_wait=60
  # The whole bench must stop by itself; it normally takes about 7 minutes.
  MAX_TOTAL_S=720
fi
PROXY_BIN=${PROXY_BIN:-$ROOT/build/s3-acl-proxy}
# Debian's python3 by default: a version manager's shim in front of another one on PATH costs
# a tenth of a second or more per call, and the bench signs before every run.
PYTHON=${PYTHON:-/usr/bin/python3}
THREADS=${THREADS:-2}
DURATION=${DURATION:-$d_duration}
ROUNDS=${ROUNDS:-$d_rounds}
PACED_S=${PACED_S:-$d_paced}
RGW_DURATION=${RGW_DURATION:-$d_rgw_duration}
RGW_ROUNDS=${RGW_ROUNDS:-$d_rgw_rounds}
LARGE_MIB=${LARGE_MIB:-$d_large}
RUNS=${RUNS:-$d_runs}
RGW_LARGE_MIB=${RGW_LARGE_MIB:-$d_rgw_large}
RGW_RUNS=${RGW_RUNS:-$d_rgw_runs}
IDLE_CONNS=${IDLE_CONNS:-$d_idle}
CONCURRENT_UPLOADS=${CONCURRENT_UPLOADS:-$d_conc}
CONCURRENT_MIB=${CONCURRENT_MIB:-$d_conc_mib}
CONCURRENT_RATE=${CONCURRENT_RATE:-$d_conc_rate}
RGW=${RGW:-1}
LOAD_WAIT_S=${LOAD_WAIT_S:-$d_load_wait}
export RGW_PORT=${RGW_PORT:-7580} MON_PORT=${MON_PORT:-7590} OSD_PORT_MIN=${OSD_PORT_MIN:-7620}
BASE_PORT=${BASE_PORT:-7600}

# The cases' shapes, fixed by the performance targets.
SMALL_BYTES=1024                 # 1 KiB: all header and latency, a Mastodon avatar thumbnail
MEDIUM_BYTES=1048576             # 1 MiB: a typical uploaded image
CONNECTIONS=64                   # keep-alive connections for the small-request runs
PACED_CONNECTIONS=10
# Each paced connection waits 4..14 ms (9 on average) after an answer: with the answer's
# own time, 10 connections ask about 1000 times a second. wrk's delay is whole milliseconds.
PACED_MIN_MS=4
PACED_MAX_MS=14
# A load run longer than this says nothing more on a 2-core machine and keeps others waiting.
MAX_DURATION=30
# The 1-minute load average under which the machine counts as quiet (2 cores).
QUIET_LOAD=2
# Upper bound for one curl transfer: 1 GiB at a slow 20 MiB/s still fits.
CURL_MAX_TIME=60
# The concurrent uploads' bound: they share the proxy, 8 GiB at 100 MiB/s still fits.
CONCURRENT_MAX_TIME=120
# The origin's workers: enough that it is not the bottleneck (one per core).
ORIGIN_WORKERS=$(nproc)
REGION=us-east-1
# Objects are read from BUCKET; uploads go to PUT_BUCKET: on the static origin, its sink.
BUCKET=bench
PUT_BUCKET=sink
# The proxy's client key (what an application signs with), and the key the proxy re-signs
# with in front of the static origin, which checks no signature.
CLIENT_AK=BENCHCLIENTKEY000001
CLIENT_SK=benchclientsecretbenchclientsecret000001
STATIC_AK=BENCHORIGINKEY000001
STATIC_SK=benchoriginsecretbenchoriginsecret00001

die() { echo "bench: $*" >&2; exit 1; }
posint() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
for v in DURATION ROUNDS PACED_S RGW_DURATION RGW_ROUNDS LARGE_MIB RUNS RGW_LARGE_MIB RGW_RUNS \
  IDLE_CONNS CONCURRENT_UPLOADS CONCURRENT_MIB THREADS; do
  posint "${!v}" || die "$v must be a positive integer"
done
for v in DURATION RGW_DURATION PACED_S; do
  [ "${!v}" -le "$MAX_DURATION" ] || die "$v must be at most $MAX_DURATION"
done
for v in LARGE_MIB RGW_LARGE_MIB; do
  [ "$SMOKE" = 1 ] || { [ "${!v}" -ge 256 ] && [ "${!v}" -le 1024 ]; } ||
    die "$v must be 256..1024 (the targets are set for 256 MiB-1 GiB)"
done
[ -x "$PROXY_BIN" ] || die "$PROXY_BIN not found: cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2 --target s3-acl-proxy"
for cmd in wrk nginx curl "$PYTHON" ss; do
  command -v "$cmd" >/dev/null || die "$cmd not found (run scripts/install-deps.sh bench)"
done
# The origin's files, the upload sink and the encoded bodies live in memory, never on disk:
# a disk would be the bottleneck of every large transfer.
TMPFS=${TMPFS:-/dev/shm}
[ "$(stat -f -c %T "$TMPFS" 2>/dev/null)" = tmpfs ] || die "$TMPFS is not a tmpfs (TMPFS= names another)"
# At the peak: the large object, three aws-chunked encodings of it, the body the sink is
# reading, the concurrent uploads' body and the RGW's large object.
need_mib=$((5 * LARGE_MIB + CONCURRENT_MIB + RGW_LARGE_MIB + 16))
free_mib=$(df -Pm "$TMPFS" | awk 'NR == 2 { print $4 }')
[ "$free_mib" -ge "$need_mib" ] || die "$TMPFS has $free_mib MiB free, the bench needs $need_mib"

RES=${RESULTS_DIR:-$BENCH/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$RES"
RES=$(cd "$RES" && pwd)
W=$(mktemp -d "$TMPFS/s3p-bench.XXXXXX")
RECORDS=$RES/records.txt
: >"$RECORDS"
FAILED=0
CLK_TCK=$(getconf CLK_TCK)
LARGE_BYTES=$((LARGE_MIB * 1048576))

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

record() { echo "$*" >>"$RECORDS"; }
fail() { echo "bench: $*" >&2; FAILED=1; }
say() { printf 'bench: [%3ds] %s\n' "$SECONDS" "$*" >&2; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
port_in_use() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
rss_kib() { awk -v f="$2" '$1 == f":" { print $2 }' "/proc/$1/status"; }
# Resets VmHWM to the current RSS, so the next reading is the peak of what follows.
reset_peak() { echo 5 >"/proc/$1/clear_refs"; }
# user + system CPU time of processes, all their threads, in clock ticks. The command name in
# field 2 has no spaces here (nginx, s3-acl-proxy), so fields 14 and 15 are utime and stime.
cpu_ticks() {
  local pid sum=0
  for pid in "$@"; do sum=$((sum + $(awk '{ print $14 + $15 }' "/proc/$pid/stat"))); done
  echo "$sum"
}
is_2xx() { [[ $1 =~ ^2[0-9][0-9]$ ]]; }

wait_http() {  # URL: until anything answers (100 x 0.1 s)
  for _ in $(seq 1 100); do
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
below "$(loadavg)" "$QUIET_LOAD" || say "load average $(loadavg) is not under $QUIET_LOAD; numbers will be noisy"
record "env mode=$([ "$SMOKE" = 1 ] && echo smoke || echo full) load_start=$(loadavg) waited_s=$waited" \
  "threads=$THREADS duration_s=$DURATION rounds=$ROUNDS paced_s=$PACED_S" \
  "rgw_duration_s=$RGW_DURATION rgw_rounds=$RGW_ROUNDS connections=$CONNECTIONS" \
  "paced_connections=$PACED_CONNECTIONS large_mib=$LARGE_MIB runs=$RUNS" \
  "rgw_large_mib=$RGW_LARGE_MIB rgw_runs=$RGW_RUNS idle_conns=$IDLE_CONNS concurrent_uploads=$CONCURRENT_UPLOADS" \
  "concurrent_mib=$CONCURRENT_MIB concurrent_rate=$CONCURRENT_RATE clk_tck=$CLK_TCK cpus=$(nproc)"
{ uname -a; nproc; grep -m1 'model name' /proc/cpuinfo; nginx -v 2>&1; wrk -v 2>&1 | head -1
  curl --version | head -1; "$PROXY_BIN" --version; uptime; } >"$RES/machine.txt" 2>&1 || true

# --- ports ---------------------------------------------------------------------------------
ORIGIN_PORT=$BASE_PORT
declare -A PORT ADMIN PID
PORT[nginx]=$((BASE_PORT + 1))
PORT[proxy]=$((BASE_PORT + 2)); ADMIN[proxy]=$((BASE_PORT + 3))
PORT[nginx_rgw]=$((BASE_PORT + 4))
PORT[proxy_rgw]=$((BASE_PORT + 5)); ADMIN[proxy_rgw]=$((BASE_PORT + 6))
# Two proxies that serve nothing before their memory reading: memory the allocator kept from
# earlier runs would otherwise absorb what the connections or uploads take, and hide it.
PORT[proxy_conns]=$((BASE_PORT + 7)); ADMIN[proxy_conns]=$((BASE_PORT + 8))
PORT[proxy_uploads]=$((BASE_PORT + 9)); ADMIN[proxy_uploads]=$((BASE_PORT + 10))
# nginx and the proxy once more, under callgrind, for the instruction counts.
PORT[nginx_cg]=$((BASE_PORT + 11))
PORT[proxy_cg]=$((BASE_PORT + 12)); ADMIN[proxy_cg]=$((BASE_PORT + 13))
for p in "$ORIGIN_PORT" "${PORT[@]}" "${ADMIN[@]}"; do
  ! port_in_use "$p" || die "port $p is already in use"
done
[ "$RGW" = 0 ] || ! port_in_use "$RGW_PORT" || die "port $RGW_PORT is already in use"

# --- the files: objects to serve, bodies to send -------------------------------------------
# nginx workers run as nobody: the objects must be readable for them, the directory where
# the sink puts large bodies writable.
ORIGIN_DIR=$W/origin
mkdir -p "$ORIGIN_DIR/$BUCKET" "$ORIGIN_DIR/.body" "$W/data"
chmod 755 "$W" "$ORIGIN_DIR" "$ORIGIN_DIR/$BUCKET"
chmod 777 "$ORIGIN_DIR/.body"
head -c "$SMALL_BYTES" /dev/urandom >"$ORIGIN_DIR/$BUCKET/small"
head -c "$LARGE_BYTES" /dev/urandom >"$ORIGIN_DIR/$BUCKET/large"
head -c "$SMALL_BYTES" /dev/urandom >"$W/data/1k"
head -c "$MEDIUM_BYTES" /dev/urandom >"$W/data/1m"
chmod 644 "$ORIGIN_DIR/$BUCKET"/*
LARGE=$ORIGIN_DIR/$BUCKET/large

# --- servers ---------------------------------------------------------------------------------
WRAP=()  # a command the next server starts under (valgrind for the instruction counts)
start_nginx() {  # NAME WORKERS PORT UPSTREAM_PORT TEMPLATE
  local name=$1 d=$W/nginx-$1
  mkdir -p "$d"
  sed -e "s|@WORKERS@|$2|g" -e "s|@PORT@|$3|g" -e "s|@UPSTREAM@|127.0.0.1:$4|g" \
    -e "s|@DIR@|$d|g" -e "s|@ROOT@|$ORIGIN_DIR|g" "$5" >"$d/nginx.conf"
  cp "$d/nginx.conf" "$RES/nginx-$name.conf"
  "${WRAP[@]}" nginx -p "$d" -e "$d/error.log" -c "$d/nginx.conf" &
  PIDS+=($!)
  PID[$name]=$!
  wait_http "http://127.0.0.1:$3/"
}

start_proxy() {  # NAME UPSTREAM_PORT UPSTREAM_KEY UPSTREAM_SECRET
  local name=$1 conf=$W/proxy-$1.toml
  cat >"$conf" <<EOF
[server]
listen = "127.0.0.1:${PORT[$name]}"
admin_listen = "127.0.0.1:${ADMIN[$name]}"
threads = $THREADS

[upstream]
endpoint = "http://127.0.0.1:$2"
region = "$REGION"
access_key_id = "$3"
secret_access_key_env = "BENCH_UPSTREAM_SECRET"

[[clients]]
access_key_id = "$CLIENT_AK"
secret_access_key_env = "BENCH_CLIENT_SECRET"

[acl]
mode = "strip"

[audit]
path = "$RES/proxy-$name.audit.log"
level = "info"
EOF
  cp "$conf" "$RES/proxy-$name.toml"
  BENCH_UPSTREAM_SECRET=$4 BENCH_CLIENT_SECRET=$CLIENT_SK \
    "${WRAP[@]}" "$PROXY_BIN" --config "$conf" >"$RES/proxy-$name.out" 2>&1 &
  PIDS+=($!)
  PID[$name]=$!
  wait_http "http://127.0.0.1:${ADMIN[$name]}/healthz"
}

# nginx's processes are its master and its workers.
server_pids() {  # NAME
  echo "${PID[$1]}"
  case $1 in nginx*|origin) pgrep -P "${PID[$1]}" || true ;; esac
}
tree_rss_kib() {  # NAME
  local pid sum=0
  for pid in $(server_pids "$1"); do sum=$((sum + $(rss_kib "$pid" VmRSS))); done
  echo "$sum"
}

say "starting the static origin, nginx and the proxies (threads=$THREADS) on 127.0.0.1:$BASE_PORT.."
start_nginx origin "$ORIGIN_WORKERS" "$ORIGIN_PORT" 0 "$BENCH/nginx-origin.conf.in"
start_nginx nginx "$THREADS" "${PORT[nginx]}" "$ORIGIN_PORT" "$BENCH/nginx.conf.in"
for p in proxy proxy_conns proxy_uploads; do start_proxy "$p" "$ORIGIN_PORT" "$STATIC_AK" "$STATIC_SK"; done
sleep 1  # let start-up allocations settle before the idle reading
for p in proxy proxy_conns proxy_uploads; do record "idle $p vmrss_kib=$(rss_kib "${PID[$p]}" VmRSS)"; done
record "idle nginx vmrss_kib=$(tree_rss_kib nginx)"

# --- addressing and signing ------------------------------------------------------------
# PHASE picks the origin: static, or rgw for the second run. The targets are always direct
# (the origin itself), nginx and proxy. Whoever signs signs for the Host the tool connects
# to: nginx passes Host through, so its requests (and direct ones) are signed with the
# origin's key; the proxy's with the client key, which only the proxy knows.
PHASE=static
TARGETS=(direct nginx proxy)
UP_AK=$STATIC_AK UP_SK=$STATIC_SK
server_of() {  # TARGET -> the server's name in PID/PORT
  case $PHASE:$1 in
    static:direct) echo origin ;;
    rgw:direct) echo rgw ;;
    static:*) echo "$1" ;;
    rgw:*) echo "$1_rgw" ;;
  esac
}
base_of() {  # TARGET
  case $PHASE:$1 in
    static:direct) echo "http://127.0.0.1:$ORIGIN_PORT" ;;
    rgw:direct) echo "http://127.0.0.1:$RGW_PORT" ;;
    *) echo "http://127.0.0.1:${PORT[$(server_of "$1")]}" ;;
  esac
}
sign() {  # TARGET s3sign.py-ARGS...
  local target=$1 ak=$UP_AK sk=$UP_SK
  shift
  [ "$target" = direct ] || [ "$target" = nginx ] || { ak=$CLIENT_AK; sk=$CLIENT_SK; }
  S3SIGN_ACCESS_KEY=$ak S3SIGN_SECRET_KEY=$sk S3SIGN_REGION=$REGION "$PYTHON" "$BENCH/s3sign.py" "$@"
}
url_of() { echo "$(base_of "$1")/$BUCKET/$2"; }  # TARGET KEY
put_url_of() { echo "$(base_of "$1")/$PUT_BUCKET/$2"; }  # TARGET KEY
presigned() { sign "$1" presign GET "$(url_of "$1" "$2")"; }  # TARGET KEY

# --- small requests under wrk ----------------------------------------------------------
# SECTION TARGET ROUND CONNECTIONS SECONDS URL WRK-LUA-ARGS...; the server's CPU time around
# the run is recorded with it (for the origin too, to show whether it kept up).
wrk_run() {
  local section=$1 target=$2 round=$3 conns=$4 secs=$5 url=$6 out line c0 c1 pids
  shift 6
  out=$RES/wrk-$section-$target-$round.txt
  pids=$(server_pids "$(server_of "$target")")
  # shellcheck disable=SC2086
  c0=$(cpu_ticks $pids)
  wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s -s "$BENCH/wrk.lua" "$url" -- "$@" >"$out" 2>&1 || true
  # shellcheck disable=SC2086
  c1=$(cpu_ticks $pids)
  line=$(grep '^RESULT ' "$out" | tail -1) || { fail "wrk failed for $target ($section), see $out"; return; }
  record "$section $target round=$round connections=$conns ${line#RESULT } cpu_ticks=$((c1 - c0))"
  # A fast 403 is not a result: every answer must have been a 2xx.
  if [[ $line =~ requests=0\  ]] ||
    ! grep -q 'err_connect=0 err_read=0 err_write=0 err_status=0 err_timeout=0' <<<"$line"; then
    fail "$target: requests failed during $section (see $out)"
  fi
}

# Each target once for a second, unrecorded (connections opened, caches and pools warm; the
# smoke run skips it), then ROUNDS rounds of every target in turn.
measure_small() {  # SECTION CONNECTIONS SECONDS ROUNDS URL-FUNCTION ARGS-FUNCTION
  local section=$1 conns=$2 secs=$3 rounds=$4 url_fn=$5 args_fn=$6 target args round
  if [ "$SMOKE" != 1 ]; then
    for target in "${TARGETS[@]}"; do
      read -ra args < <("$args_fn" "$target")
      wrk_run "warmup-$section" "$target" 0 "$conns" 1 "$("$url_fn" "$target")" "${args[@]}"
    done
  fi
  for round in $(seq 1 "$rounds"); do
    for target in "${TARGETS[@]}"; do
      read -ra args < <("$args_fn" "$target")
      wrk_run "$section" "$target" "$round" "$conns" "$secs" "$("$url_fn" "$target")" "${args[@]}"
    done
  done
}

small_get_url() { presigned "$1" small; }
get_args() { echo get; }
# Each paced connection waits a random PACED_MIN_MS..PACED_MAX_MS after every answer.
paced_args() { echo "paced $PACED_MIN_MS $PACED_MAX_MS"; }
check_small_get() {
  local target out
  for target in "${TARGETS[@]}"; do
    out=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "$(small_get_url "$target")")
    [ "$out" = "200 $SMALL_BYTES" ] || die "GET small via $target ($PHASE): $out"
  done
}

# A header-signed PUT with the body's SHA-256 in x-amz-content-sha256, signed just before the
# run (it stays valid within the 15-minute skew) into a header file wrk's script reads.
PUT_FILE=
put_url() { put_url_of "$1" "put-$(basename "$PUT_FILE")"; }
put_args() {
  local hdr
  hdr=$W/put-$PHASE-$1-$(basename "$PUT_FILE").headers
  sign "$1" header PUT "$(put_url "$1")" "$PUT_FILE" >"$hdr"
  echo "put $hdr $PUT_FILE"
}
check_put() {
  local target hdr code
  for target in "${TARGETS[@]}"; do
    hdr=$W/check-put.headers
    sign "$target" header PUT "$(put_url "$target")" "$PUT_FILE" >"$hdr"
    code=$(curl -s -o "$RES/check-put-$PHASE-$target.body" -w '%{http_code}' -H @"$hdr" \
      -T "$PUT_FILE" "$(put_url "$target")")
    is_2xx "$code" || die "PUT $(basename "$PUT_FILE") via $target ($PHASE): HTTP $code"
  done
}

# --- large transfers, one stream each ----------------------------------------------------
# The CPU ticks so far of the server a TARGET's transfer goes through (the origin itself for
# direct) and of the origin behind it (0 for direct): what one large transfer costs each.
path_ticks() {  # TARGET
  local server origin
  server=$(server_of "$1")
  origin=$(server_of direct)
  # shellcheck disable=SC2046
  echo "$(cpu_ticks $(server_pids "$server")) $(if [ "$server" = "$origin" ]; then echo 0; else
    cpu_ticks $(server_pids "$origin"); fi)"
}

download() {  # SECTION TARGET RUN
  local code size total s0 o0 s1 o1
  read -r s0 o0 < <(path_ticks "$2")
  read -r code size total < <(curl -s -o /dev/null --max-time "$CURL_MAX_TIME" \
    -w '%{http_code} %{size_download} %{time_total}\n' "$(presigned "$2" large)")
  read -r s1 o1 < <(path_ticks "$2")
  if [ "$code" != 200 ] || [ "$size" != "$LARGE_BYTES" ]; then
    fail "large GET via $2 ($PHASE): HTTP $code, $size bytes"
    return
  fi
  record "$1 $2 run=$3 bytes=$LARGE_BYTES time_s=$total cpu_ticks=$((s1 - s0)) origin_ticks=$((o1 - o0))"
}

upload() {  # SECTION TARGET RUN BODY HEADERS KEY
  local code size total s0 o0 s1 o1 out=$RES/$1-$2-$3.body
  read -r s0 o0 < <(path_ticks "$2")
  read -r code size total < <(curl -s -o "$out" --max-time "$CURL_MAX_TIME" \
    -w '%{http_code} %{size_upload} %{time_total}\n' -H @"$5" -T "$4" "$(put_url_of "$2" "$6")")
  read -r s1 o1 < <(path_ticks "$2")
  if ! is_2xx "$code" || [ "$size" != "$(stat -c %s "$4")" ]; then
    fail "$1 via $2 ($PHASE): HTTP $code, $size bytes sent (see $out)"
    return
  fi
  # The rate is of the object's bytes, whatever the encoding on the wire.
  record "$1 $2 run=$3 bytes=$LARGE_BYTES wire_bytes=$size time_s=$total cpu_ticks=$((s1 - s0)) origin_ticks=$((o1 - o0))"
}
# The static origin's sink stores nothing; the RGW's garbage needs collecting (below).
gc_now() { :; }

# MODE: hex (the file, its SHA-256 signed), chunked (pre-encoded, every chunk signed: one body
# per target, as the chunk signatures chain from the header's) or trailer (one body for all,
# written once). Python encodes before the clock starts; curl sends the bytes.
large_uploads() {  # SECTION MODE RUNS
  local section=$1 mode=$2 runs=$3 target run body hdr key trailer_out=$W/data/trailer
  for target in "${TARGETS[@]}"; do
    key=up-$mode-$target
    hdr=$W/$section-$target.headers
    case $mode in
      hex) sign "$target" header PUT "$(put_url_of "$target" "$key")" "$LARGE" >"$hdr" ;;
      chunked) sign "$target" chunked "$(put_url_of "$target" "$key")" "$LARGE" "$W/data/chunked-$target" >"$hdr" ;;
      trailer) sign "$target" trailer "$(put_url_of "$target" "$key")" "$LARGE" "$trailer_out" >"$hdr"
               trailer_out=- ;;
    esac
  done
  for run in $(seq 1 "$runs"); do
    for target in "${TARGETS[@]}"; do
      case $mode in
        hex) body=$LARGE ;;
        chunked) body=$W/data/chunked-$target ;;
        trailer) body=$W/data/trailer ;;
      esac
      upload "$section" "$target" "$run" "$body" "$W/$section-$target.headers" "up-$mode-$target"
      gc_now
    done
  done
  rm -f "$W/data/chunked-"* "$W/data/trailer"
}

# =========================================================================================
# Part 1: in front of the static origin
# =========================================================================================
check_small_get
say "GetObject 1 KiB, $CONNECTIONS connections, $ROUNDS x ${DURATION}s per target"
measure_small get1k "$CONNECTIONS" "$DURATION" "$ROUNDS" small_get_url get_args

for PUT_FILE in "$W/data/1k" "$W/data/1m"; do
  check_put
  section=put$(basename "$PUT_FILE")
  say "PutObject $([ "$section" = put1k ] && echo 1 KiB || echo 1 MiB) hex-verified, $CONNECTIONS connections, $ROUNDS x ${DURATION}s per target"
  measure_small "$section" "$CONNECTIONS" "$DURATION" "$ROUNDS" put_url put_args
done

say "paced GetObject 1 KiB, $PACED_CONNECTIONS connections at about 1000 requests/s, $ROUNDS x ${PACED_S}s per target"
measure_small paced "$PACED_CONNECTIONS" "$PACED_S" "$ROUNDS" small_get_url paced_args

# --- user-space instructions per small request ---------------------------------------------
# Time per request drifts with the machine; the instructions a server executes for one do
# not. nginx and the proxy start once more, each under valgrind's callgrind with counting
# switched on only inside their event loops (nginx's ngx_process_events_and_timers, the
# proxy's Asio scheduler; start-up is left out), and serve INSTR_SECONDS of small presigned
# GETs on INSTR_CONNECTIONS connections; stopped, they write the counts of every thread and
# worker process: those over the requests wrk counted. Kernel work is not counted, and
# valgrind's CPU has no SHA extensions, so SHA-256 weighs several times what it does natively.
INSTR_SECONDS=${INSTR_SECONDS:-$([ "$SMOKE" = 1 ] && echo 1 || echo 5)}
INSTR_CONNECTIONS=8
callgrind_count() {  # TARGET: records its instructions per request
  local target=$1 name=${1}_cg url out line requests ir=0 f n
  local cg=$W/callgrind-$target loop='boost::asio::detail::scheduler::run*'
  [ "$target" = nginx ] && loop=ngx_process_events_and_timers
  mkdir -p "$cg"
  chmod 777 "$cg"  # nginx's workers write their counts as nobody
  WRAP=(valgrind --tool=callgrind --callgrind-out-file="$cg/out.%p" --log-file="$cg/valgrind.%p.log"
    --dump-instr=no --collect-atstart=no --toggle-collect="$loop")
  case $target in
    nginx) start_nginx "$name" "$THREADS" "${PORT[$name]}" "$ORIGIN_PORT" "$BENCH/nginx.conf.in" ;;
    proxy) start_proxy "$name" "$ORIGIN_PORT" "$STATIC_AK" "$STATIC_SK" ;;
  esac
  WRAP=()
  url=$(sign "$target" presign GET "http://127.0.0.1:${PORT[$name]}/$BUCKET/small")
  out=$RES/wrk-instructions-$target.txt
  wrk -t1 -c"$INSTR_CONNECTIONS" -d"${INSTR_SECONDS}s" --timeout 5s -s "$BENCH/wrk.lua" "$url" -- get >"$out" 2>&1 || true
  kill -TERM "${PID[$name]}" 2>/dev/null || true
  wait "${PID[$name]}" 2>/dev/null || true  # the counts are written on the way out
  line=$(grep '^RESULT ' "$out" | tail -1) || { fail "wrk failed for $target under callgrind, see $out"; return; }
  requests=$(sed -n 's/.* requests=\([0-9]*\) .*/\1/p' <<<"$line")
  grep -q 'err_connect=0 err_read=0 err_write=0 err_status=0 err_timeout=0' <<<"$line" ||
    fail "$target: requests failed under callgrind (see $out)"
  for f in "$cg"/out.*; do
    n=$(awk '$1 == "summary:" { print $2 }' "$f")
    ir=$((ir + ${n:-0}))
    cp "$f" "$RES/callgrind-$target.${f##*/}"  # for callgrind_annotate
  done
  if [ "${requests:-0}" -gt 0 ] && [ "$ir" -gt 0 ]; then
    record "instructions $target requests=$requests ir=$ir ir_per_request=$((ir / requests))"
  else
    fail "$target: no instruction count under callgrind (see $cg)"
  fi
}
if command -v valgrind >/dev/null; then
  say "user-space instructions per small GetObject under callgrind, ${INSTR_SECONDS}s per target"
  for target in nginx proxy; do callgrind_count "$target"; done
else
  say "valgrind is not installed: no instruction counts (scripts/install-deps.sh bench installs it)"
fi

say "GetObject $LARGE_MIB MiB, one stream, $RUNS runs per target"
for run in $(seq 1 "$RUNS"); do
  for target in "${TARGETS[@]}"; do download get_large "$target" "$run"; done
done
for mode in hex chunked trailer; do
  say "PutObject $LARGE_MIB MiB, $mode, $RUNS runs per target"
  large_uploads "put_large_$mode" "$mode" "$RUNS"
done

# --- memory ------------------------------------------------------------------------------
say "memory: $IDLE_CONNS idle keep-alive connections"
for s in proxy_conns nginx; do
  # shellcheck disable=SC2046
  if out=$("$PYTHON" "$BENCH/idle_conns.py" "$(sign "${s%_conns}" presign GET \
      "http://127.0.0.1:${PORT[$s]}/$BUCKET/small")" "$IDLE_CONNS" $(server_pids "$s")); then
    record "conns ${s%_conns} ${out#RESULT }"
  else
    fail "idle connections to $s: ${out:-no result}"
  fi
done

say "memory: $CONCURRENT_UPLOADS uploads of $CONCURRENT_MIB MiB in flight at once, $CONCURRENT_RATE/s each"
# Into the sink that drains and answers at once: 32 bodies are never stored. The proxy answers
# 100-continue end to end, so it sends each whole body before it reads that answer; the
# check below (every upload took about as long as its rate limit allows) shows they were all
# in flight together.
head -c "$((CONCURRENT_MIB * 1048576))" /dev/urandom >"$W/data/concurrent"
base=http://127.0.0.1:${PORT[proxy_uploads]}
sign proxy header PUT "$base/discard/upload" "$W/data/concurrent" >"$W/concurrent.headers"
p=${PID[proxy_uploads]}
# One small request first: the proxy's first upstream connection and other one-time costs
# are not the uploads'.
code=$(curl -s -o /dev/null -w '%{http_code}' "$(sign proxy presign GET "$base/$BUCKET/small")")
is_2xx "$code" || fail "the warm-up GET before the concurrent uploads: HTTP $code"
sleep 0.5
before=$(rss_kib "$p" VmRSS)
reset_peak "$p"
cpids=()
for n in $(seq 1 "$CONCURRENT_UPLOADS"); do
  curl -s -o /dev/null --max-time "$CONCURRENT_MAX_TIME" --limit-rate "$CONCURRENT_RATE" \
    -w '%{http_code} %{size_upload} %{time_total}\n' -H @"$W/concurrent.headers" \
    -T "$W/data/concurrent" "$base/discard/upload" >"$W/concurrent-$n.out" &
  cpids+=($!)
done
for c in "${cpids[@]}"; do wait "$c" || true; done
peak=$(rss_kib "$p" VmHWM)
ok=$(awk -v s="$((CONCURRENT_MIB * 1048576))" '$1 ~ /^2/ && $2 == s' "$W"/concurrent-*.out | wc -l)
read -r tmin tmax < <(awk '{ print $3 }' "$W"/concurrent-*.out | sort -n | awk 'NR == 1 { a = $1 } END { print a, $1 }')
[ "$ok" = "$CONCURRENT_UPLOADS" ] || fail "only $ok of $CONCURRENT_UPLOADS concurrent uploads got a 2xx"
record "uploads proxy uploads=$CONCURRENT_UPLOADS ok=$ok mib=$CONCURRENT_MIB rate=$CONCURRENT_RATE" \
  "before_kib=$before vmhwm_kib=$peak time_min_s=$tmin time_max_s=$tmax"
rm -f "$W/data/concurrent"
record "idle proxy_after_load vmrss_kib=$(rss_kib "${PID[proxy]}" VmRSS)"

# =========================================================================================
# Part 2: in front of the Ceph RGW, shorter: the same ratios on a real S3 server
# =========================================================================================
if [ "$RGW" != 0 ]; then
  say "starting the RGW on 127.0.0.1:$RGW_PORT"
  "$ROOT/scripts/rgw-start.sh" "$RGW_DIR" >"$W/rgw.env" 2>"$RES/rgw-start.log" ||
    die "the RGW did not start (see $RES/rgw-start.log)"
  # shellcheck disable=SC1091
  . "$W/rgw.env"
  # RGW 16's beast frontend leaves Nagle's algorithm on: every small response then waits
  # ~40 ms for a delayed ACK, and all three targets measure that timer instead of a server.
  # Restart the gateway (started above by this script) with tcp_nodelay=1.
  if ! grep -q '^rgw frontends = .*tcp_nodelay' "$RGW_CONF"; then
    rgw_pid=$(tr -dc '0-9' <"$RGW_DIR/run/client.rgw.pid")
    # A gateway keeps no data of its own (the OSD does): no need to wait for a clean stop.
    kill -KILL "$rgw_pid"
    for _ in $(seq 1 100); do kill -0 "$rgw_pid" 2>/dev/null || break; sleep 0.1; done
    sed -i 's|^\(rgw frontends = beast .*\)$|\1 tcp_nodelay=1|' "$RGW_CONF"
    radosgw -c "$RGW_CONF" --no-mon-config -n client.rgw 2>>"$RES/rgw-start.log"
    wait_http "http://127.0.0.1:$RGW_PORT/"
  fi
  PID[rgw]=$(tr -dc '0-9' <"$RGW_DIR/run/client.rgw.pid")
  PHASE=rgw
  PUT_BUCKET=$BUCKET
  UP_AK=$RGW_ACCESS_KEY UP_SK=$RGW_SECRET_KEY
  # An overwritten RGW object's data waits two hours for the garbage collector and the
  # in-memory OSD holds 2 GiB: collect after every large upload.
  gc_now() { radosgw-admin -c "$RGW_CONF" gc process --include-all >/dev/null 2>&1 || true; }
  hdr=$W/bucket.headers
  sign direct header PUT "$(base_of direct)/$BUCKET" - >"$hdr"
  code=$(curl -s -o /dev/null -w '%{http_code}' -H @"$hdr" -X PUT "$(base_of direct)/$BUCKET")
  is_2xx "$code" || die "cannot create bucket $BUCKET on the RGW: HTTP $code"
  # The RGW moves large objects at 60-120 MiB/s: its part uses a large object of its own size.
  LARGE=$W/data/rgw-large
  LARGE_BYTES=$((RGW_LARGE_MIB * 1048576))
  head -c "$LARGE_BYTES" /dev/urandom >"$LARGE"
  for obj in small large; do
    file=$ORIGIN_DIR/$BUCKET/small
    [ "$obj" = large ] && file=$LARGE
    sign direct header PUT "$(url_of direct "$obj")" "$file" >"$hdr"
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time "$CURL_MAX_TIME" -H @"$hdr" \
      -T "$file" "$(url_of direct "$obj")")
    is_2xx "$code" || die "PUT $obj directly on the RGW: HTTP $code"
  done
  start_nginx nginx_rgw "$THREADS" "${PORT[nginx_rgw]}" "$RGW_PORT" "$BENCH/nginx.conf.in"
  start_proxy proxy_rgw "$RGW_PORT" "$RGW_ACCESS_KEY" "$RGW_SECRET_KEY"

  check_small_get
  say "RGW: GetObject 1 KiB, $CONNECTIONS connections, $RGW_ROUNDS x ${RGW_DURATION}s per target"
  measure_small rgw_get1k "$CONNECTIONS" "$RGW_DURATION" "$RGW_ROUNDS" small_get_url get_args
  PUT_FILE=$W/data/1k
  check_put
  say "RGW: PutObject 1 KiB hex-verified, $CONNECTIONS connections, $RGW_ROUNDS x ${RGW_DURATION}s per target"
  measure_small rgw_put1k "$CONNECTIONS" "$RGW_DURATION" "$RGW_ROUNDS" put_url put_args
  say "RGW: GetObject and PutObject (hex) $RGW_LARGE_MIB MiB, $RGW_RUNS runs per target"
  for run in $(seq 1 "$RGW_RUNS"); do
    for target in "${TARGETS[@]}"; do download rgw_get_large "$target" "$run"; done
  done
  large_uploads rgw_put_large_hex hex "$RGW_RUNS"
fi

record "env load_end=$(loadavg)"
"$PYTHON" "$BENCH/summarize.py" "$RECORDS" | tee "$RES/summary.txt"
say "raw output in $RES"
[ "$FAILED" = 0 ] || die "some requests failed; their figures are missing or marked"
