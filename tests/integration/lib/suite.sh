# shellcheck shell=bash
# Shell helpers for the suites (tests/integration/suites/*.sh). Source it after proxy.sh.
#
#   suite_proxy NAME S3_PORT ADMIN_PORT ENDPOINT MODE ACL_REQUESTS [SERVER_EXTRA [UPSTREAM_EXTRA]]
#       writes $SUITE_WORK/NAME.toml (upstream ENDPOINT with the RGW's key, one client key
#       $SUITE_CLIENT_KEY/$SUITE_CLIENT_SECRET, [acl] MODE and ACL_REQUESTS, audit log
#       $SUITE_WORK/NAME.audit.jsonl), starts the proxy (log $SUITE_WORK/NAME.log) and waits
#       for it; on failure prints "FAIL NAME_start: reason" and returns 1. SERVER_EXTRA and
#       UPSTREAM_EXTRA are TOML lines added to [server] and [upstream], e.g.
#       'domains = ["s3.local"]' and 'addressing = "virtual"'.
#   wait_port PORT      0 once 127.0.0.1:PORT accepts connections (bounded)

suite_proxy() {
  local name=$1 port=$2 admin=$3 endpoint=$4 mode=$5 acl_requests=$6 server_extra=${7:-} upstream_extra=${8:-}
  local conf=$SUITE_WORK/$name.toml log=$SUITE_WORK/$name.log
  cat >"$conf" <<EOF
[server]
listen = "127.0.0.1:$port"
admin_listen = "127.0.0.1:$admin"
$server_extra

[upstream]
endpoint = "$endpoint"
region = "us-east-1"
access_key_id = "$RGW_ACCESS_KEY"
secret_access_key = "$RGW_SECRET_KEY"
$upstream_extra

[[clients]]
access_key_id = "$SUITE_CLIENT_KEY"
secret_access_key = "$SUITE_CLIENT_SECRET"

[acl]
mode = "$mode"
acl_requests = "$acl_requests"

[audit]
path = "$SUITE_WORK/$name.audit.jsonl"
EOF
  if [ ! -x "$PROXY_BIN" ]; then
    echo "FAIL ${name}_start: no proxy executable at $PROXY_BIN"
    return 1
  fi
  start_proxy "$conf" "$log"
  if ! wait_proxy_up "$PROXY_PID" "$port" "$admin"; then
    echo "FAIL ${name}_start: proxy not up on $port/$admin: $(tail -1 "$log" 2>/dev/null)"
    return 1
  fi
}

# Bounds a broken start of a helper process; they listen within a second.
WAIT_PORT_POLLS=${WAIT_PORT_POLLS:-100} # x 0.1 s
wait_port() {
  for _ in $(seq 1 "$WAIT_PORT_POLLS"); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
