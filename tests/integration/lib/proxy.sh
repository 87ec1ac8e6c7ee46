# Shell helpers for integration suites that run their own proxy instances.
# Source it; needs PROXY_BIN. Every proxy started here is stopped by stop_all_proxies.
#
#   start_proxy CONFIG LOG; wait_proxy_up "$PROXY_PID" S3_PORT ADMIN_PORT || fail
#   stop_proxy_pid PID      SIGTERM, wait (bounded), SIGKILL if still there
# Poll bounds: the proxy answers within a second; these only bound a broken start/stop.
PROXY_UP_POLLS=${PROXY_UP_POLLS:-100}     # x 0.1 s
PROXY_STOP_POLLS=${PROXY_STOP_POLLS:-100} # x 0.1 s
_suite_proxy_pids=()

# start_proxy CONFIG LOG: starts the proxy in the background of the calling shell and sets
# PROXY_PID (not usable in $(...): the proxy must be a child of the suite's shell).
start_proxy() {
  "$PROXY_BIN" --config "$1" >>"$2" 2>&1 &
  PROXY_PID=$!
  _suite_proxy_pids+=("$PROXY_PID")
}

# wait_proxy_up PID S3_PORT [ADMIN_PORT]: 0 once the ports accept connections.
wait_proxy_up() {
  local pid=$1 port=$2 admin=${3:-}
  for _ in $(seq 1 "$PROXY_UP_POLLS"); do
    kill -0 "$pid" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null &&
      { [ -z "$admin" ] || curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$admin/healthz"; }; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

stop_proxy_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 "$PROXY_STOP_POLLS"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

stop_all_proxies() {
  local pid
  for pid in "${_suite_proxy_pids[@]}"; do stop_proxy_pid "$pid"; done
  _suite_proxy_pids=()
}
