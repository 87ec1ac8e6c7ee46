#!/usr/bin/env bash
# Suite "acl": the ACL scenario of the issue, on the real RGW and on a fake AWS.
#  - A bucket whose policy denies PutObject with a canned x-amz-acl: Mastodon's upload with
#    ACL gets 403 directly; through the proxy in strip mode it lands (byte for byte); in audit
#    mode it gets 403 and exactly one write_denied audit line. Multipart and copy with ACL too.
#  - A "deny wins" bucket: write_denied records in either mode, nothing lands.
#  - PUT ?acl (header and XML body forms) with acl_requests reject / accept / forward.
#  - A fake AWS with ACLs disabled (fakes/fake_acl_unsupported_upstream.py): strip never
#    triggers its 400 AccessControlListNotSupported; audit logs it as write_failed.
# Contract (env in, PASS/FAIL/SKIP lines out, exit 0): tests/integration/README.md, "Suites".
# Ports: SUITE_PORT_BASE (the fake) and SUITE_PORT_BASE+10.. (five proxies, two ports each).
# shellcheck source-path=SCRIPTDIR
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
it=$(dirname "$here")
: "${SUITE_WORK:?}" "${SUITE_PORT_BASE:?}" "${PROXY_BIN:?}" "${RGW_ENDPOINT:?}" "${RGW_ACCESS_KEY:?}" "${RGW_SECRET_KEY:?}"
# shellcheck source=../lib/proxy.sh
source "$it/lib/proxy.sh"
# shellcheck source=../lib/suite.sh
source "$it/lib/suite.sh"
export RGW_UID=${RGW_UID:-tester}
# The application's key: not the RGW's, so anything that lands was verified and re-signed.
export SUITE_CLIENT_KEY=AKIAACLSUITEEXAMPLE SUITE_CLIENT_SECRET=aclsuitesecretaclsuitesecret0000

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
/usr/bin/python3 "$it/fakes/fake_acl_unsupported_upstream.py" --port "$fake_port" --record "$fake_record" \
  >"$SUITE_WORK/fake-upstream.log" 2>&1 &
fake_pid=$!
if ! wait_port "$fake_port"; then
  echo "FAIL fake_upstream_start: not listening on $fake_port: $(tail -1 "$SUITE_WORK/fake-upstream.log")"
  exit 0
fi

# name upstream mode acl_requests
proxies=(
  "strip $RGW_ENDPOINT strip reject"
  "audit $RGW_ENDPOINT audit forward"
  "accept $RGW_ENDPOINT strip accept"
  "fake_strip http://127.0.0.1:$fake_port strip reject"
  "fake_audit http://127.0.0.1:$fake_port audit forward"
)
json="{" i=0
for spec in "${proxies[@]}"; do
  read -r name endpoint mode acl_requests <<<"$spec"
  port=$((SUITE_PORT_BASE + 10 + 2 * i)) admin=$((SUITE_PORT_BASE + 11 + 2 * i))
  suite_proxy "$name" "$port" "$admin" "$endpoint" "$mode" "$acl_requests" || exit 0
  [ "$i" -eq 0 ] || json+=","
  json+="\"$name\":{\"endpoint\":\"http://127.0.0.1:$port\",\"audit\":\"$SUITE_WORK/$name.audit.jsonl\"}"
  i=$((i + 1))
done
json+="}"

ACL_PROXIES=$json ACL_FAKE_RECORD=$fake_record ACL_CLIENT_KEY=$SUITE_CLIENT_KEY \
  ACL_CLIENT_SECRET=$SUITE_CLIENT_SECRET /usr/bin/python3 "$it/lib/acl_suite.py"
exit 0
