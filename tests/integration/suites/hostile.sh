#!/usr/bin/env bash
# Suite "hostile": crafted requests -- broken HTTP framing, lengths that overflow, invalid
# names, malformed SigV4, lying aws-chunked bodies, ACL sub-resources, bodies that hold a
# second request -- each one row of a table (lib/hostile_suite.py) sent byte for byte to a
# proxy in strip mode with acl_requests = "reject" in front of the RGW. Each must get its
# S3 error, leave one audit line, land nothing on the RGW and leave the proxy serving.
# Contract (env in, PASS/FAIL/SKIP lines out, exit 0): tests/integration/README.md, "Suites".
# Ports: SUITE_PORT_BASE/+1 (path-style proxy), +2/+3 (virtual-hosted proxy, server.domains).
# shellcheck source-path=SCRIPTDIR
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
it=$(dirname "$here")
: "${SUITE_WORK:?}" "${SUITE_PORT_BASE:?}" "${PROXY_BIN:?}" "${RGW_ENDPOINT:?}" "${RGW_ACCESS_KEY:?}" "${RGW_SECRET_KEY:?}"
# shellcheck source=../lib/proxy.sh
source "$it/lib/proxy.sh"
# shellcheck source=../lib/suite.sh
source "$it/lib/suite.sh"
# The application's key: not the RGW's, so anything that lands was verified and re-signed.
export SUITE_CLIENT_KEY=AKIAHOSTILEEXAMPLE00 SUITE_CLIENT_SECRET=hostilesecrethostilesecret000000
trap stop_all_proxies EXIT
trap 'exit 130' INT TERM

port=$SUITE_PORT_BASE admin=$((SUITE_PORT_BASE + 1))
vport=$((SUITE_PORT_BASE + 2)) vadmin=$((SUITE_PORT_BASE + 3))
suite_proxy hostile "$port" "$admin" "$RGW_ENDPOINT" strip reject || exit 0
# Virtual-hosted on both sides: clients address BUCKET.s3.local, the RGW (rgw dns name =
# localhost, scripts/rgw-start.sh) gets Host BUCKET.localhost.
rgw_port=${RGW_ENDPOINT##*:}
rgw_port=${rgw_port%%/*}
vhost_endpoint=
if suite_proxy hostile_vhost "$vport" "$vadmin" "http://localhost:$rgw_port" strip reject \
  'domains = ["s3.local"]' 'addressing = "virtual"'; then
  vhost_endpoint=http://127.0.0.1:$vport
fi

HOSTILE_ENDPOINT=http://127.0.0.1:$port HOSTILE_AUDIT=$SUITE_WORK/hostile.audit.jsonl \
  HOSTILE_VHOST_ENDPOINT=$vhost_endpoint HOSTILE_VHOST_AUDIT=$SUITE_WORK/hostile_vhost.audit.jsonl \
  HOSTILE_CLIENT_KEY=$SUITE_CLIENT_KEY HOSTILE_CLIENT_SECRET=$SUITE_CLIENT_SECRET \
  /usr/bin/python3 "$it/lib/hostile_suite.py"
exit 0
