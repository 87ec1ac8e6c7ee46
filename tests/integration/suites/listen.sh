#!/usr/bin/env bash
# Suite "listen": the proxy on IPv6 loopback, several client keys each re-signed with its own
# upstream identity, and keep-alive reuse of upstream connections -- against the real RGW.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/proxy.sh
source "$here/../lib/proxy.sh"
trap stop_all_proxies EXIT

port=$((SUITE_PORT_BASE + 1))
admin=$((SUITE_PORT_BASE + 2))
conf=$SUITE_WORK/listen.toml
cat >"$conf" <<EOF
[server]
listen = "[::1]:$port"
admin_listen = "127.0.0.1:$admin"

[upstream]
endpoint = "$RGW_ENDPOINT"
region = "us-east-1"
access_key_id = "$RGW_ACCESS_KEY"
secret_access_key = "$RGW_SECRET_KEY"

[[clients]]
access_key_id = "AKIALISTENAPPONE0001"
secret_access_key = "listen-app-one-secret-0000000001"

[[clients]]
access_key_id = "AKIALISTENAPPTWO0002"
secret_access_key = "listen-app-two-secret-0000000002"
upstream_access_key_id = "$RGW_OTHER_ACCESS_KEY"
upstream_secret_access_key = "$RGW_OTHER_SECRET_KEY"

[acl]
mode = "strip"

[audit]
path = "$SUITE_WORK/listen.audit.jsonl"
EOF
start_proxy "$conf" "$SUITE_WORK/listen.log"
up=0
for _ in $(seq 1 "$PROXY_UP_POLLS"); do
  kill -0 "$PROXY_PID" 2>/dev/null || break
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$admin/healthz" &&
    (exec 3<>"/dev/tcp/::1/$port") 2>/dev/null; then
    up=1
    break
  fi
  sleep 0.1
done
if [ "$up" != 1 ]; then
  echo "FAIL start: proxy not up on [::1]:$port: $(tail -1 "$SUITE_WORK/listen.log" 2>/dev/null)"
  exit 0
fi
PROXY_URL="http://[::1]:$port" ADMIN_URL="http://127.0.0.1:$admin" AUDIT_LOG=$SUITE_WORK/listen.audit.jsonl \
  /usr/bin/python3 "$here/../lib/listen_suite.py"
exit 0
