#!/usr/bin/env bash
# Suite "operations": running the proxy in production against the real RGW.
#   - SIGHUP: client key rotation (the old key refused after the reload, also on a kept-alive
#     connection; the new one lands), upstream key rotation (the canary follows it), ACL mode
#     and audit level changes, an upload in flight across a reload (lands byte for byte with
#     the settings it started with), invalid configs refused with an error record naming the
#     key while the old config keeps serving, the audit file reopened after logrotate's mv.
#   - SIGTERM: an upload in flight completes and the proxy exits 0; with shutdown_grace 2s a
#     stalled upload is cancelled at the end of the grace period and still gets its audit line.
#   - Overload: server.max_connections answers 503 SlowDown; a per-key request rate answers
#     503 SlowDown; out of file descriptors (ulimit -n) the accept loop backs off (CPU time
#     measured from /proc) and serves again once connections close.
#   - Upstream pool: a second radosgw of the RGW's cluster that closes idle keep-alive
#     connections after 1 s (beast request_timeout_ms); the proxy must hold no CLOSE_WAIT
#     socket afterwards (ss -tanp).
# Contract (env in, PASS/FAIL/SKIP lines out, exit 0): tests/integration/README.md, "Suites".
# Ports: SUITE_PORT_BASE .. +79 for its proxies, +90 for the short-idle radosgw.
# shellcheck source-path=SCRIPTDIR
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
it=$(dirname "$here")
: "${SUITE_WORK:?}" "${SUITE_PORT_BASE:?}" "${PROXY_BIN:?}" "${RGW_ENDPOINT:?}" "${RGW_CONF:?}" "${IT_DATA:?}"

# The second gateway answers within ~2 s; this only bounds a broken start.
SHORT_RGW_UP_POLLS=${SHORT_RGW_UP_POLLS:-120}   # x 0.25 s
SHORT_RGW_STOP_POLLS=${SHORT_RGW_STOP_POLLS:-100} # x 0.1 s
# RGW's beast frontend closes a keep-alive connection idle this long (default 65 s).
SHORT_RGW_IDLE_MS=1000
short_name=client.operations-short
short_port=$((SUITE_PORT_BASE + 90))
run_dir=$(dirname "$RGW_CONF")/run
short_pidfile=$run_dir/$short_name.pid

stop_short_rgw() {
  [ -s "$short_pidfile" ] || return 0
  local pid
  pid=$(tr -dc '0-9' <"$short_pidfile")
  # Only the gateway started here: its command line names this suite's client name.
  if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-n $short_name"; then
    # Gracefully: a gateway killed outright leaves its watches on the cluster's control
    # objects, and bucket creations on the other gateway then wait ~30 s for it.
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 "$SHORT_RGW_STOP_POLLS"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$short_pidfile"
}
trap stop_short_rgw EXIT
trap 'exit 130' INT TERM

short_problem=
start_short_rgw() {
  mkdir -p "$SUITE_WORK/rgw-short"
  radosgw -c "$RGW_CONF" --no-mon-config -n "$short_name" --rgw-data "$SUITE_WORK/rgw-short" \
    --rgw-dns-name localhost --rgw-thread-pool-size 8 --rgw-enable-usage-log false \
    --rgw-frontends "beast endpoint=127.0.0.1:$short_port request_timeout_ms=$SHORT_RGW_IDLE_MS tcp_nodelay=1" \
    >"$SUITE_WORK/rgw-short.start.log" 2>&1 || { short_problem="radosgw did not start: $(tail -1 "$SUITE_WORK/rgw-short.start.log")"; return 1; }
  for _ in $(seq 1 "$SHORT_RGW_UP_POLLS"); do
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$short_port/" && return 0
    sleep 0.25
  done
  short_problem="radosgw with request_timeout_ms not answering on $short_port"
  return 1
}

short_endpoint=
if start_short_rgw; then
  short_endpoint=http://127.0.0.1:$short_port
  echo "# radosgw closing idle connections after ${SHORT_RGW_IDLE_MS} ms up on $short_endpoint"
fi

OPS_WORK=$SUITE_WORK OPS_PORT_BASE=$SUITE_PORT_BASE OPS_SHORT_RGW_ENDPOINT=$short_endpoint \
  OPS_SHORT_RGW_PROBLEM=$short_problem OPS_SHORT_RGW_IDLE_MS=$SHORT_RGW_IDLE_MS \
  /usr/bin/python3 "$it/lib/operations_suite.py"
exit 0
