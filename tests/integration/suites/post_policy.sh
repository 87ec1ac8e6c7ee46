#!/usr/bin/env bash
# Suite "post_policy": browser-based uploads (POST Object with a SigV4 POST policy) from real
# clients — boto3's generate_presigned_post with python requests, curl -F, and
# @aws-sdk/s3-presigned-post with Node's fetch — each scenario run straight against the RGW
# and through the proxy, with the same status, error code and stored bytes both ways (in
# strip mode an acl=public-read field leaves the object private through the proxy). Then what
# only the proxy answers: expired policy, bad signature, unknown key, fields before the file
# over 20 KiB, malformed forms, a body cut off mid-file (nothing lands), a bucket policy deny
# (write_denied), each with its one audit line.
# Contract (env in, PASS/FAIL/SKIP lines out, exit 0): tests/integration/README.md, "Suites".
# Ports: SUITE_PORT_BASE.. (two proxies, strip and audit, two ports each).
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
export SUITE_CLIENT_KEY=AKIAPOSTPOLICYEXAMPL SUITE_CLIENT_SECRET=postpolicysecretpostpolicy000000
trap stop_all_proxies EXIT
trap 'exit 130' INT TERM

suite_proxy pp_strip "$SUITE_PORT_BASE" $((SUITE_PORT_BASE + 1)) "$RGW_ENDPOINT" strip reject || exit 0
strip_pid=$PROXY_PID
suite_proxy pp_audit $((SUITE_PORT_BASE + 2)) $((SUITE_PORT_BASE + 3)) "$RGW_ENDPOINT" audit forward || exit 0

# The JavaScript client needs its npm packages (run.sh and scripts/install-deps.sh install them).
js_dir=$it/clients/js
if [ ! -d "$js_dir/node_modules/@aws-sdk/s3-presigned-post" ] && command -v npm >/dev/null; then
  (cd "$js_dir" && npm ci --no-audit --no-fund) >"$SUITE_WORK/npm-ci.log" 2>&1 || true
fi

PP_STRIP=http://127.0.0.1:$SUITE_PORT_BASE PP_STRIP_PID=$strip_pid PP_STRIP_AUDIT=$SUITE_WORK/pp_strip.audit.jsonl \
  PP_AUDIT=http://127.0.0.1:$((SUITE_PORT_BASE + 2)) PP_AUDIT_AUDIT=$SUITE_WORK/pp_audit.audit.jsonl \
  PP_CLIENT_KEY=$SUITE_CLIENT_KEY PP_CLIENT_SECRET=$SUITE_CLIENT_SECRET PP_JS=$js_dir/presigned_post.mjs \
  PP_WORK=$SUITE_WORK /usr/bin/python3 "$it/lib/post_policy_suite.py"
exit 0
