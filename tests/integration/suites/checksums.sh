#!/usr/bin/env bash
# Suite "checksums": [upstream] checksums = "strip" for storage that rejects checksum headers.
#  - A fake (fakes/fake_checksum_rejecting_upstream.py) answering Backblaze B2's exact
#    400 InvalidArgument "Unsupported header '...' received for this API call." to any
#    checksum header: through a strip proxy the newest JavaScript SDK (header, trailer,
#    multipart, x-amz-checksum-mode) and Debian's boto3 (CRC32 asked for) upload and read
#    back, and the fake never sees a checksum header; through a forward proxy the rejection
#    comes back as a write_failed audit line; a body not matching its checksum (header or
#    trailer) is refused with 400 BadDigest and never completes at the fake; a
#    CompleteMultipartUpload listing part checksums is refused.
#  - The same uploads through a strip proxy into the real RGW, read back there byte for byte.
# Contract (env in, PASS/FAIL/SKIP lines out, exit 0): tests/integration/README.md, "Suites".
# Ports: SUITE_PORT_BASE (the fake) and SUITE_PORT_BASE+10.. (three proxies, two ports each).
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
export SUITE_CLIENT_KEY=AKIACHECKSUMSEXAMPLE SUITE_CLIENT_SECRET=checksumsuitesecretchecksum00000

fake_pid=
# shellcheck disable=SC2317  # (run by the trap)
cleanup() {
  stop_all_proxies
  if [ -n "$fake_pid" ]; then kill "$fake_pid" 2>/dev/null; wait "$fake_pid" 2>/dev/null; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

js_dir=$it/clients/js
if [ ! -d "$js_dir/node_modules/@aws-sdk/client-s3" ]; then
  (cd "$js_dir" && npm ci --no-audit --no-fund) >"$SUITE_WORK/npm-ci.out" 2>&1 ||
    { echo "FAIL js_sdk_install: npm ci failed in $js_dir: $(tail -1 "$SUITE_WORK/npm-ci.out")"; exit 0; }
fi

fake_port=$SUITE_PORT_BASE
fake_record=$SUITE_WORK/fake-upstream.requests.jsonl
/usr/bin/python3 "$it/fakes/fake_checksum_rejecting_upstream.py" --port "$fake_port" --record "$fake_record" \
  >"$SUITE_WORK/fake-upstream.out" 2>&1 &
fake_pid=$!
if ! wait_port "$fake_port"; then
  echo "FAIL fake_upstream_start: not listening on $fake_port: $(tail -1 "$SUITE_WORK/fake-upstream.out")"
  exit 0
fi

# name upstream checksums
proxies=(
  "fake_strip http://127.0.0.1:$fake_port strip"
  "fake_forward http://127.0.0.1:$fake_port forward"
  "rgw_strip $RGW_ENDPOINT strip"
)
json="{" i=0
for spec in "${proxies[@]}"; do
  read -r name endpoint checksums <<<"$spec"
  port=$((SUITE_PORT_BASE + 10 + 2 * i)) admin=$((SUITE_PORT_BASE + 11 + 2 * i))
  suite_proxy "$name" "$port" "$admin" "$endpoint" strip reject "" "checksums = \"$checksums\"" || exit 0
  [ "$i" -eq 0 ] || json+=","
  json+="\"$name\":{\"endpoint\":\"http://127.0.0.1:$port\",\"audit\":\"$SUITE_WORK/$name.audit.jsonl\"}"
  i=$((i + 1))
done
json+="}"

CK_PROXIES=$json CK_FAKE_RECORD=$fake_record CK_CLIENT_KEY=$SUITE_CLIENT_KEY \
  CK_CLIENT_SECRET=$SUITE_CLIENT_SECRET /usr/bin/python3 "$it/lib/checksums_suite.py"
exit 0
