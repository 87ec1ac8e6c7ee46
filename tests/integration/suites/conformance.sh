#!/usr/bin/env bash
# Suite "conformance": an S3 client cannot tell the proxy is there. Each scenario runs
# straight against the RGW and through an `audit` proxy (most also through a `strip` one),
# with boto3 and raw signed requests, and must give the same status, S3 code, meaningful
# response headers and stored bytes both ways: conditional requests and writes (304, 412,
# keep-alive after body-less answers, audit lines and the conditional metric), headers with
# meaning (SSE-C -- whose key must never reach a log --, SSE-KMS, tagging, storage class,
# website redirect, object lock, expected bucket owner, request payer, checksums,
# Content-MD5, content headers, response-* overrides, partNumber, versionId), and the
# proxy's own error answers against the RGW's for the same fault.
# Contract (env in, PASS/FAIL/SKIP lines out, exit 0): tests/integration/README.md, "Suites".
# Ports: SUITE_PORT_BASE..+3 (S3 and admin of its two proxies).
# shellcheck source-path=SCRIPTDIR
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
it=$(dirname "$here")
: "${SUITE_WORK:?}" "${SUITE_PORT_BASE:?}" "${PROXY_BIN:?}" "${RGW_ENDPOINT:?}" "${RGW_ACCESS_KEY:?}" "${RGW_SECRET_KEY:?}"
# shellcheck source=../lib/proxy.sh
source "$it/lib/proxy.sh"
# shellcheck source=../lib/suite.sh
source "$it/lib/suite.sh"
export SUITE_CLIENT_KEY=AKIACONFORMANCEEXAMP SUITE_CLIENT_SECRET=conformancesecretconformance00000
trap stop_all_proxies EXIT
trap 'exit 130' INT TERM

# SSE-C: the RGW refuses customer keys over plain http unless told not to (AWS always
# requires https). This run's RGW is a throwaway: the setting is changed at run time.
asok=${RGW_DIR:-}/run/client.rgw.asok
if [ -S "$asok" ] && ceph --admin-daemon "$asok" config set rgw_crypt_require_ssl false >/dev/null 2>&1; then
  echo "# RGW: rgw_crypt_require_ssl = false (SSE-C over http)"
else
  echo "# RGW: could not allow SSE-C over http; SSE-C is compared as refused both ways"
fi

audit=$SUITE_PORT_BASE strip=$((SUITE_PORT_BASE + 2))
suite_proxy conformance-audit "$audit" $((audit + 1)) "$RGW_ENDPOINT" audit forward || exit 0
suite_proxy conformance-strip "$strip" $((strip + 1)) "$RGW_ENDPOINT" strip reject || exit 0

CONF_AUDIT_ENDPOINT=http://127.0.0.1:$audit CONF_STRIP_ENDPOINT=http://127.0.0.1:$strip \
  CONF_AUDIT_ADMIN=127.0.0.1:$((audit + 1)) \
  CONF_AUDIT_LOG=$SUITE_WORK/conformance-audit.audit.jsonl CONF_STRIP_LOG=$SUITE_WORK/conformance-strip.audit.jsonl \
  CONF_AUDIT_PROXY_LOG=$SUITE_WORK/conformance-audit.log CONF_STRIP_PROXY_LOG=$SUITE_WORK/conformance-strip.log \
  CONF_CLIENT_KEY=$SUITE_CLIENT_KEY CONF_CLIENT_SECRET=$SUITE_CLIENT_SECRET \
  /usr/bin/python3 "$it/lib/conformance_suite.py"
exit 0
