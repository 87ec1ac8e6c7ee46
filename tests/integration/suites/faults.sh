#!/usr/bin/env bash
# Suite "faults": the upstream or the client failing in the middle of an exchange. For each
# fault the client never gets a 2xx for an object the RGW does not hold byte for byte, the
# failure has its audit line with the proxy's S3 code, the proxy keeps serving, and no
# upstream connection or file descriptor is left behind. Faults: an upstream refusing
# connections; the RGW behind a relay (lib/fault_relay.py) that resets mid-request-body or
# cuts the answer in its head or body; the RGW stopped (SIGSTOP) past upstream.read_timeout
# mid-upload and before answering a GET; a fake answering 500/503, or dropping or resetting
# a reused connection (fakes/fake_error_upstream.py: the proxy retries at most once, and only
# when no body byte was taken); clients vanishing mid-upload in three payload modes; slowloris
# (Debian's slowhttptest, slow headers and slow bodies) beside normal traffic. TLS upstream
# with a wrong certificate is the transport suite's.
# Contract (env in, PASS/FAIL/SKIP lines out, exit 0): tests/integration/README.md, "Suites".
# Ports: SUITE_PORT_BASE + 0..12 (see below).
# shellcheck source-path=SCRIPTDIR
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
it=$(dirname "$here")
: "${SUITE_WORK:?}" "${SUITE_PORT_BASE:?}" "${PROXY_BIN:?}" "${RGW_ENDPOINT:?}" "${RGW_ACCESS_KEY:?}" \
  "${RGW_SECRET_KEY:?}" "${RGW_DIR:?}"
# shellcheck source=../lib/proxy.sh
source "$it/lib/proxy.sh"
# shellcheck source=../lib/suite.sh
source "$it/lib/suite.sh"
# The application's key: not the RGW's, so anything that lands was verified and re-signed.
export FAULTS_CLIENT_KEY=AKIAFAULTSEXAMPLE000 FAULTS_CLIENT_SECRET=faultssecretfaultssecret00000000
export SUITE_CLIENT_KEY=$FAULTS_CLIENT_KEY SUITE_CLIENT_SECRET=$FAULTS_CLIENT_SECRET

p_refused=$SUITE_PORT_BASE            # +1 admin: upstream = a closed port
p_relay=$((SUITE_PORT_BASE + 2))      # +3 admin: upstream = the fault relay in front of the RGW
p_stall=$((SUITE_PORT_BASE + 4))      # +5 admin: upstream = the RGW (stopped and resumed)
p_fake=$((SUITE_PORT_BASE + 6))       # +7 admin: upstream = the fake answering errors
p_slow=$((SUITE_PORT_BASE + 8))       # +9 admin: upstream = the RGW, under slowloris
p_relay_listen=$((SUITE_PORT_BASE + 10))
p_fake_listen=$((SUITE_PORT_BASE + 11))
p_closed=$((SUITE_PORT_BASE + 12))    # nothing listens here
# Short enough that the stalls stay quick, long enough for a loaded 2-core machine.
READ_TIMEOUT_S=2

fake_pid=
cleanup() {
  stop_all_proxies
  if [ -n "$fake_pid" ]; then kill "$fake_pid" 2>/dev/null; wait "$fake_pid" 2>/dev/null; fi
  # Never leave the RGW stopped, whatever happened to the checks (they resume it themselves).
  [ -f "$RGW_DIR/run/client.rgw.pid" ] && kill -CONT "$(cat "$RGW_DIR/run/client.rgw.pid")" 2>/dev/null
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# faults_proxy NAME PORT ADMIN ENDPOINT [SERVER_LINES] [UPSTREAM_LINES]: a strip-mode proxy
# (lib/suite.sh's suite_proxy) whose PID is exported as FAULTS_<NAME>_PID.
faults_proxy() {
  suite_proxy "$1" "$2" "$3" "$4" strip reject "${5:-}" "${6:-}" || return 1
  export "FAULTS_${1^^}_PID=$PROXY_PID"
}

if (exec 3<>"/dev/tcp/127.0.0.1/$p_closed") 2>/dev/null; then
  echo "FAIL setup: port $p_closed should be closed for the refused-upstream check, but something listens"
  exit 0
fi
# Without a keep-alive pool every upstream connection must be gone once its request ended, so
# any one left is a leak; and the relay sees each request on a connection of its own.
no_pool="max_idle_connections = 0
read_timeout = \"${READ_TIMEOUT_S}s\"
connect_timeout = \"2s\""
faults_proxy refused "$p_refused" $((p_refused + 1)) "http://127.0.0.1:$p_closed" "" "$no_pool" || exit 0
faults_proxy relay "$p_relay" $((p_relay + 1)) "http://127.0.0.1:$p_relay_listen" "" "$no_pool" || exit 0
faults_proxy stall "$p_stall" $((p_stall + 1)) "$RGW_ENDPOINT" "" "$no_pool" || exit 0
# One worker, one pool: a connection released by one request is the one the next reuses.
faults_proxy fake "$p_fake" $((p_fake + 1)) "http://127.0.0.1:$p_fake_listen" "threads = 1" \
  "read_timeout = \"${READ_TIMEOUT_S}s\"" || exit 0
# Slow clients are cut after idle_timeout; the default pool, as in production.
faults_proxy slow "$p_slow" $((p_slow + 1)) "$RGW_ENDPOINT" 'idle_timeout = "10s"' || exit 0

/usr/bin/python3 "$it/fakes/fake_error_upstream.py" --port "$p_fake_listen" --record "$SUITE_WORK/fake.jsonl" \
  >"$SUITE_WORK/fake.log" 2>&1 &
fake_pid=$!
wait_port "$p_fake_listen" || { echo "FAIL fake_start: the fake upstream is not listening: $(tail -1 "$SUITE_WORK/fake.log")"; exit 0; }

FAULTS_WORK=$SUITE_WORK FAULTS_READ_TIMEOUT_S=$READ_TIMEOUT_S \
  FAULTS_REFUSED_PORT=$p_refused FAULTS_RELAY_PORT=$p_relay FAULTS_STALL_PORT=$p_stall FAULTS_FAKE_PORT=$p_fake \
  FAULTS_SLOW_PORT=$p_slow FAULTS_SLOW_ADMIN=$((p_slow + 1)) FAULTS_RELAY_LISTEN=$p_relay_listen \
  FAULTS_FAKE_LISTEN=$p_fake_listen FAULTS_CLOSED_PORT=$p_closed \
  /usr/bin/python3 "$it/lib/faults_suite.py"
exit 0
