#!/usr/bin/env bash
# Suite "cors_anonymous": browser preflights and anonymous requests pass through as if the
# proxy were not there (issue 8, items 2 and 3), and the proxy never lends its identity to
# either. curl preflights (allowed, origin not allowed, bucket without CORS, OPTIONS that is
# not a preflight, signed OPTIONS, large and over-limit headers, bare CR/LF and folded
# lines) and Access-Control-* headers on ordinary GETs; anonymous GET/HEAD of public and
# private objects, an anonymous PUT into a bucket whose policy allows it (ACL stripped),
# one it does not allow, anonymous = "refuse" forwarding nothing, broken credentials never
# taken for none. Directly on the RGW and through the proxy, compared; what reaches the
# upstream is recorded by a fake (fakes/fake_recording_upstream.py).
# Contract (env in, PASS/FAIL/SKIP lines out, exit 0): tests/integration/README.md, "Suites".
# Ports: SUITE_PORT_BASE (the fake) and SUITE_PORT_BASE+10..+17 (four proxies, two ports each).
# shellcheck source-path=SCRIPTDIR
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
it=$(dirname "$here")
: "${SUITE_WORK:?}" "${SUITE_PORT_BASE:?}" "${PROXY_BIN:?}" "${RGW_ENDPOINT:?}" "${RGW_ACCESS_KEY:?}" "${RGW_SECRET_KEY:?}"
# shellcheck source=../lib/proxy.sh
source "$it/lib/proxy.sh"
# shellcheck source=../lib/suite.sh
source "$it/lib/suite.sh"
# The application's key: not the RGW's, so anything signed that lands was verified and re-signed.
export SUITE_CLIENT_KEY=AKIACORSANONEXAMPLE1 SUITE_CLIENT_SECRET=corsanonymoussecretcorsanonymous0

fake_pid=
# shellcheck disable=SC2317  # (run by the trap)
cleanup() {
  stop_all_proxies
  if [ -n "$fake_pid" ]; then kill "$fake_pid" 2>/dev/null; wait "$fake_pid" 2>/dev/null; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fake_port=$SUITE_PORT_BASE
fake_record=$SUITE_WORK/fake-upstream.requests.jsonl
/usr/bin/python3 "$it/fakes/fake_recording_upstream.py" --port "$fake_port" --record "$fake_record" \
  >"$SUITE_WORK/fake-upstream.out" 2>&1 &
fake_pid=$!
if ! wait_port "$fake_port"; then
  echo "FAIL fake_upstream_start: not listening on $fake_port: $(tail -1 "$SUITE_WORK/fake-upstream.out")"
  exit 0
fi

fwd=$((SUITE_PORT_BASE + 10)) refuse=$((SUITE_PORT_BASE + 12)) fake=$((SUITE_PORT_BASE + 14))
tag=$((SUITE_PORT_BASE + 16))
suite_proxy ca-fwd "$fwd" $((fwd + 1)) "$RGW_ENDPOINT" strip reject 'anonymous = "forward"' || exit 0
suite_proxy ca-refuse "$refuse" $((refuse + 1)) "$RGW_ENDPOINT" strip reject || exit 0
suite_proxy ca-fake "$fake" $((fake + 1)) "http://127.0.0.1:$fake_port" strip reject 'anonymous = "forward"' || exit 0
# Tag mode reads and writes tags with a storage identity: never for a request without credentials.
suite_proxy ca-tag "$tag" $((tag + 1)) "http://127.0.0.1:$fake_port" strip tag 'anonymous = "forward"' || exit 0

CA_FWD_ENDPOINT=http://127.0.0.1:$fwd CA_FWD_ADMIN=127.0.0.1:$((fwd + 1)) \
  CA_FWD_LOG=$SUITE_WORK/ca-fwd.audit.jsonl \
  CA_REFUSE_ENDPOINT=http://127.0.0.1:$refuse CA_REFUSE_LOG=$SUITE_WORK/ca-refuse.audit.jsonl \
  CA_FAKE_ENDPOINT=http://127.0.0.1:$fake CA_FAKE_LOG=$SUITE_WORK/ca-fake.audit.jsonl CA_FAKE_RECORD=$fake_record \
  CA_TAG_ENDPOINT=http://127.0.0.1:$tag CA_TAG_LOG=$SUITE_WORK/ca-tag.audit.jsonl \
  CA_CLIENT_KEY=$SUITE_CLIENT_KEY CA_CLIENT_SECRET=$SUITE_CLIENT_SECRET \
  /usr/bin/python3 "$it/lib/cors_anonymous_suite.py"
exit 0
