#!/usr/bin/env bash
# Suite "soak": SOAK_CLIENTS (200) concurrent clients for SOAK_SECONDS (60) through one proxy
# into the RGW -- PutObject (hex, signed aws-chunked, unsigned trailer), multipart, GetObject
# and deliberate failures (wrong signature, bad body hash, client gone mid-upload) -- then:
# every acknowledged object on the RGW byte for byte, nothing left by the failures, one audit
# line per request, each failure's line with its code, and the proxy's RSS and descriptors
# back near their baseline (lib/soak_suite.py). scripts/soak.sh runs it for longer.
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
export SUITE_CLIENT_KEY=AKIASOAKEXAMPLE00000 SUITE_CLIENT_SECRET=soaksecretsoaksecretsoaksecret00
trap stop_all_proxies EXIT
trap 'exit 130' INT TERM

port=$SUITE_PORT_BASE admin=$((SUITE_PORT_BASE + 1))
suite_proxy soak "$port" "$admin" "$RGW_ENDPOINT" strip reject || exit 0

# 200 client threads, the proxy and the RGW share the machine: the load generator yields.
SOAK_ENDPOINT=http://127.0.0.1:$port SOAK_PID=$PROXY_PID SOAK_AUDIT=$SUITE_WORK/soak.audit.jsonl \
  SOAK_CLIENT_KEY=$SUITE_CLIENT_KEY SOAK_CLIENT_SECRET=$SUITE_CLIENT_SECRET \
  nice -n 5 /usr/bin/python3 "$it/lib/soak_suite.py"
exit 0
