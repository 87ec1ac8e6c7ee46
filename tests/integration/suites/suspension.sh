#!/usr/bin/env bash
# Suite "suspension": suspension privacy by tags ([acl] acl_requests = "tag") on the real RGW,
# driven by Ruby aws-sdk-s3 doing what Mastodon's suspension and unsuspension services do
# (lib/suspension_suite.rb): per media style acl.put(acl: 'private') / acl.put(acl: 'public-read')
# through the proxy, while the bucket has a public-read Allow plus the Deny that
# `s3-acl-proxy policy --flavor ceph` prints. Anonymous GETs go straight to the RGW.
# Contract (env in, PASS/FAIL/SKIP lines out, exit 0): tests/integration/README.md, "Suites".
# Ports: SUITE_PORT_BASE+10 (S3) and +11 (admin) for the one proxy.
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
export SUITE_CLIENT_KEY=AKIASUSPENSIONSUITE0 SUITE_CLIENT_SECRET=suspensionsuitesecretsuspension00

trap stop_all_proxies EXIT
trap 'exit 130' INT TERM

bucket=suspension-media
name=tag
port=$((SUITE_PORT_BASE + 10)) admin=$((SUITE_PORT_BASE + 11))
conf=$SUITE_WORK/$name.toml
cat >"$conf" <<TOML
[server]
listen = "127.0.0.1:$port"
admin_listen = "127.0.0.1:$admin"

[upstream]
endpoint = "$RGW_ENDPOINT"
region = "us-east-1"
access_key_id = "$RGW_ACCESS_KEY"
secret_access_key = "$RGW_SECRET_KEY"
principal_arn = "arn:aws:iam:::user/$RGW_UID"
verify_writes = true

[[clients]]
access_key_id = "$SUITE_CLIENT_KEY"
secret_access_key = "$SUITE_CLIENT_SECRET"

[acl]
mode = "strip"
acl_requests = "tag"

[canary]
bucket = "$bucket"
interval = "0s"

[audit]
path = "$SUITE_WORK/$name.audit.jsonl"
TOML
if [ ! -x "$PROXY_BIN" ]; then
  echo "FAIL ${name}_start: no proxy executable at $PROXY_BIN"
  exit 0
fi
start_proxy "$conf" "$SUITE_WORK/$name.log"
if ! wait_proxy_up "$PROXY_PID" "$port" "$admin"; then
  echo "FAIL ${name}_start: proxy not up on $port/$admin: $(tail -1 "$SUITE_WORK/$name.log" 2>/dev/null)"
  exit 0
fi

SUSPENSION_BUCKET=$bucket SUSPENSION_CONFIG=$conf SUSPENSION_PROXY="http://127.0.0.1:$port" \
  SUSPENSION_AUDIT=$SUITE_WORK/$name.audit.jsonl /usr/bin/ruby "$it/lib/suspension_suite.rb"
exit 0
