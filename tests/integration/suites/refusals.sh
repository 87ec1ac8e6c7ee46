#!/usr/bin/env bash
# Suite "refusals": requests the proxy must refuse, each with the right S3 error, nothing
# written upstream (checked on the RGW) and exactly one audit line: wrong secret, unknown
# key, tampered signed header, tampered body, bad chunk signature, bad trailer checksum,
# expired presigned URL, skewed clock, unsigned x-amz-* header, SigV2, no auth; a body cut
# short by the client; and no secret or signature in the audit log. Each kind of request
# has a control that lands, so a refusal cannot pass because the request was built wrongly.
# Contract (env in, PASS/FAIL/SKIP lines out, exit 0): tests/integration/README.md, "Suites".
# Ports: SUITE_PORT_BASE (S3) and SUITE_PORT_BASE+1 (admin) for its one proxy.
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
export SUITE_CLIENT_KEY=AKIAREFUSALSEXAMPLE SUITE_CLIENT_SECRET=refusalssecretrefusalssecret0000
trap stop_all_proxies EXIT
trap 'exit 130' INT TERM

port=$SUITE_PORT_BASE admin=$((SUITE_PORT_BASE + 1))
suite_proxy refusals "$port" "$admin" "$RGW_ENDPOINT" strip reject || exit 0

REFUSALS_ENDPOINT=http://127.0.0.1:$port REFUSALS_AUDIT=$SUITE_WORK/refusals.audit.jsonl \
  REFUSALS_CLIENT_KEY=$SUITE_CLIENT_KEY REFUSALS_CLIENT_SECRET=$SUITE_CLIENT_SECRET \
  /usr/bin/python3 "$it/lib/refusals_suite.py"
exit 0
