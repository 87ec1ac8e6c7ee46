#!/usr/bin/env bash
# A short multi-threaded load under ThreadSanitizer: the proxy built with S3P_TSAN (the `tsan`
# preset), two event-loop threads, in front of a throwaway Ceph RGW, with concurrent uploads
# and downloads in every payload mode (tests/integration/lib/concurrent_load.py) and the admin
# endpoints read meanwhile; then SIGTERM (so the drain and shutdown run under TSan too).
# Passes when every request succeeded, the proxy exited 0 and TSan reported nothing.
#
# Usage: scripts/tsan-load.sh [--no-build]
# Env:   LOAD_SECONDS (30), LOAD_CLIENTS (16), TSAN_BUILD_DIR (build-tsan, the preset's),
#        RGW_PORT / MON_PORT / OSD_PORT_MIN (rgw-start.sh's), PROXY_PORT (8080),
#        PROXY_ADMIN_PORT (9090), KEEP_WORK=1 keeps the work directory (kept on failure anyway)
# Prints the load's summary, the number of TSan reports, and "PASS tsan_load" or
# "FAIL tsan_load: reason"; exits 1 on failure.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TSAN_BUILD_DIR:-$root/build-tsan}
LOAD_SECONDS=${LOAD_SECONDS:-30}
LOAD_CLIENTS=${LOAD_CLIENTS:-16}
PROXY_PORT=${PROXY_PORT:-8080}
PROXY_ADMIN_PORT=${PROXY_ADMIN_PORT:-9090}
# TSan slows the proxy 5-15x; these only bound a broken start or stop.
PROXY_UP_POLLS=300    # x 0.1 s
PROXY_STOP_POLLS=300  # x 0.1 s
CLIENT_KEY=AKIATSANLOADEXAMPLE
CLIENT_SECRET=tsanloadsecrettsanloadsecret0000

if [ "${1:-}" != --no-build ]; then
  (cd "$root" && cmake --preset tsan >/dev/null && cmake --build --preset tsan -j2 --target s3-acl-proxy >/dev/null)
fi
proxy_bin=$build/s3-acl-proxy
[ -x "$proxy_bin" ] || { echo "FAIL tsan_load: no $proxy_bin"; exit 1; }

work=$(mktemp -d /tmp/s3p-tsan.XXXXXX)
proxy_pid=
fail_reason=
cleanup() {
  if [ -n "$proxy_pid" ]; then kill -KILL "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; fi
  [ -f "$work/rgw/ceph.conf" ] && "$root/scripts/rgw-stop.sh" "$work/rgw" >/dev/null 2>&1 || true
  if [ -n "$fail_reason" ] || [ "${KEEP_WORK:-0}" = 1 ]; then echo "# kept $work"; else rm -rf -- "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { fail_reason=$1; echo "FAIL tsan_load: $1"; exit 1; }

"$root/scripts/rgw-start.sh" "$work/rgw" >"$work/rgw.env" 2>"$work/rgw-start.log" ||
  fail "rgw-start.sh: $(tail -n 1 "$work/rgw-start.log")"
# shellcheck disable=SC1091
source "$work/rgw.env"
/usr/bin/python3 "$root/tests/integration/lib/rgw_check.py" mkbucket tsan-load >"$work/mkbucket.log" 2>&1 ||
  fail "mkbucket: $(tail -n 1 "$work/mkbucket.log")"

cat >"$work/proxy.toml" <<EOF
[server]
listen = "127.0.0.1:$PROXY_PORT"
admin_listen = "127.0.0.1:$PROXY_ADMIN_PORT"
threads = 2

[upstream]
endpoint = "$RGW_ENDPOINT"
region = "us-east-1"
access_key_id = "$RGW_ACCESS_KEY"
secret_access_key = "$RGW_SECRET_KEY"

[[clients]]
access_key_id = "$CLIENT_KEY"
secret_access_key = "$CLIENT_SECRET"

[acl]
mode = "strip"

[audit]
path = "$work/audit.jsonl"
EOF

mkdir -p "$work/tsan"
# Every report goes to a file (one per process) and the run goes on, so one race does not
# hide the next; the exit code says nothing about races (exitcode=0), the files do.
TSAN_OPTIONS="halt_on_error=0 exitcode=0 second_deadlock_stack=1 log_path=$work/tsan/report" \
  "$proxy_bin" --config "$work/proxy.toml" >"$work/proxy.log" 2>&1 &
proxy_pid=$!
up=0
for _ in $(seq 1 "$PROXY_UP_POLLS"); do
  kill -0 "$proxy_pid" 2>/dev/null || break
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PROXY_ADMIN_PORT/healthz"; then up=1; break; fi
  sleep 0.1
done
[ "$up" = 1 ] || fail "proxy not up: $(tail -n 1 "$work/proxy.log")"

echo "# $LOAD_CLIENTS clients for $LOAD_SECONDS s through the TSan proxy (threads = 2)"
load_rc=0
LOAD_SECRET=$CLIENT_SECRET /usr/bin/python3 "$root/tests/integration/lib/concurrent_load.py" \
  --endpoint "http://127.0.0.1:$PROXY_PORT" --admin "http://127.0.0.1:$PROXY_ADMIN_PORT" --bucket tsan-load \
  --key-id "$CLIENT_KEY" --seconds "$LOAD_SECONDS" --clients "$LOAD_CLIENTS" >"$work/load.json" 2>"$work/load.err" ||
  load_rc=$?
cat "$work/load.json"

kill -TERM "$proxy_pid"
proxy_rc=
for _ in $(seq 1 "$PROXY_STOP_POLLS"); do
  if ! kill -0 "$proxy_pid" 2>/dev/null; then wait "$proxy_pid" && proxy_rc=0 || proxy_rc=$?; break; fi
  sleep 0.1
done
[ -n "$proxy_rc" ] && proxy_pid=
audit_lines=$(wc -l <"$work/audit.jsonl")
reports=$(cat "$work"/tsan/report* 2>/dev/null | grep -c 'WARNING: ThreadSanitizer' || true)
echo "# audit lines: $audit_lines; TSan reports: $reports"
if [ "$reports" -gt 0 ]; then
  grep -h -A12 'WARNING: ThreadSanitizer' "$work"/tsan/report* | head -n 60
  fail "$reports ThreadSanitizer reports (in $work/tsan)"
fi
[ -n "$proxy_rc" ] || fail "the proxy did not exit within $((PROXY_STOP_POLLS / 10)) s of SIGTERM"
[ "$proxy_rc" -eq 0 ] || fail "the proxy exited with $proxy_rc: $(tail -n 1 "$work/proxy.log")"
[ "$load_rc" -eq 0 ] || fail "the load failed: $(tail -n 1 "$work/load.err") $(head -c 600 "$work/load.json")"
echo "PASS tsan_load"
