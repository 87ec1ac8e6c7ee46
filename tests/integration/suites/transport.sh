#!/usr/bin/env bash
# Suite "transport": how bytes get to and from the proxy, against the real RGW.
#  1. TLS towards the client (server.tls_cert_file/tls_key_file, a throwaway CA made here):
#     the client tests of clients/ over https with the CA as trust root -- boto3 1.26
#     (UNSIGNED-PAYLOAD), boto3 1.43 (STREAMING-UNSIGNED-PAYLOAD-TRAILER in TE chunked, which
#     the RGW refuses directly), awscli 2.9, Ruby aws-sdk-s3 as Mastodon, fog (signed chunks),
#     the JS SDK stream body. Each checks its objects byte for byte on the RGW; the audit log
#     must show the payload mode that client is known to send over https landing.
#  2. An https upstream: a second radosgw of the same cluster with a beast ssl_endpoint
#     (certificate for "localhost" only). With upstream.ca_file = the CA the uploads land;
#     with a CA that did not sign it, or with the right CA but a host name the certificate
#     does not name (https://127.0.0.1), the client gets 502 UpstreamUnreachable and the
#     audit line is write_failed at error; nothing lands.
#  3. Virtual-hosted style both ways: a boto3 client addressing BUCKET.s3.local
#     (server.domains; the name is resolved to loopback inside the client process, as
#     curl --resolve would) through a proxy with upstream.addressing = "virtual" and
#     endpoint http://localhost:PORT (the RGW's rgw dns name). A recording TCP relay between
#     proxy and RGW shows every upstream request as Host BUCKET.localhost, path without the
#     bucket. A path-style client through the same proxy lands too.
#  4. Large objects: 1 GiB through the proxy and back -- a single PUT with a hex payload hash
#     (boto3 1.26, http), a GET streamed to a file, and a 1 GiB aws-chunked trailer upload
#     (boto3 1.43 over https) -- sha256 compared with the source and with what the RGW holds.
#     Each proxy's peak RSS (VmHWM) must stay below PEAK_RSS_LIMIT_KIB (64 MiB): the proxy
#     holds no body whole, so 1 GiB must cost no more than a small one.
#  5. Upstream cut-off, from a fake upstream (lib/transport_fake_upstream.py cut): a GET
#     answered 200 with Content-Length 1000 and cut after 10 bytes never reaches the client
#     as a complete 2xx; a PUT whose upstream closes before answering gets 502.
# Contract (env in, PASS/FAIL/SKIP lines out, exit 0): tests/integration/README.md, "Suites".
# Ports: SUITE_PORT_BASE + 0..21 (see "ports" below).
# Takes about 2 minutes on 2 cores, most of it moving the 1 GiB objects.
# shellcheck source-path=SCRIPTDIR
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
it=$(dirname "$here")
: "${SUITE_WORK:?}" "${SUITE_PORT_BASE:?}" "${PROXY_BIN:?}" "${RGW_ENDPOINT:?}" "${RGW_ACCESS_KEY:?}" \
  "${RGW_SECRET_KEY:?}" "${RGW_CONF:?}" "${IT_DATA:?}"
# shellcheck source=../lib/proxy.sh
source "$it/lib/proxy.sh"

DEBIAN_PY=/usr/bin/python3
client_py=$it/lib/transport_client.py
fake_py=$it/lib/transport_fake_upstream.py
rgw_check=$it/lib/rgw_check.py
work=$SUITE_WORK
t_suite=$(date +%s.%N)

# The bound on each proxy's peak RSS after the 1 GiB transfers. The proxy itself needs
# ~15 MiB (code, TLS contexts, buffers per connection); a body held whole would add 1 GiB.
PEAK_RSS_LIMIT_KIB=$((64 * 1024))
BIG_BYTES=$((1024 * 1024 * 1024))
# How long one client test of clients/ may take (they take a few seconds each).
CLIENT_TIMEOUT=120
# How long one 1 GiB transfer may take; they run at 80-120 MiB/s here.
BIG_TIMEOUT=120
# The second radosgw answers within ~2 s; this only bounds a broken start.
RGW_TLS_UP_POLLS=120 # x 0.25 s
# It stops within ~2 s on SIGTERM; this bounds a stop that hangs.
RGW_TLS_STOP_POLLS=100 # x 0.1 s
# Bounds a broken start of a fake or relay; they listen within a second.
PORT_POLLS=100 # x 0.1 s

# ports
p_tls=$SUITE_PORT_BASE                     # +1 admin: proxy with TLS towards clients
p_rgw_tls=$((SUITE_PORT_BASE + 2))         # the radosgw with an ssl_endpoint
p_up_ok=$((SUITE_PORT_BASE + 3))           # +4: https upstream, the right CA
p_up_wrong_ca=$((SUITE_PORT_BASE + 5))     # +6: https upstream, a CA that did not sign it
p_up_wrong_name=$((SUITE_PORT_BASE + 7))   # +8: https upstream addressed by a name not in its cert
p_vhost=$((SUITE_PORT_BASE + 9))           # +10: virtual-hosted both ways
p_tap=$((SUITE_PORT_BASE + 11))            # recording relay to the RGW
p_big_http=$((SUITE_PORT_BASE + 12))       # +13: large objects over http
p_big_tls=$((SUITE_PORT_BASE + 14))        # +15: large objects over https
p_fake=$((SUITE_PORT_BASE + 16))           # the cutting fake upstream
p_fake_proxy=$((SUITE_PORT_BASE + 17))     # +18: proxy in front of it

# The application's key: not the RGW's, so anything that lands was verified and re-signed.
export S3_ACCESS_KEY=AKIATRANSPORTEXAMPLE S3_SECRET_KEY=transportsecrettransportsecret00
# What the client tests of clients/ expect through a proxy in strip mode.
export EXPECT_OBJECT_ACL=private EXPECT_ACL_PUT=notimplemented EXPECT_STREAM_UPLOAD=success
export RUN_ID=${RUN_ID:-$$} NODE_NO_WARNINGS=1
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION S3_CA_BUNDLE
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true

# --- results
oneline() { tr '\n' ' ' <<<"$*" | sed 's/[[:space:]]\+/ /g; s/ $//'; }
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $(oneline "$2")"; }
skip() { echo "SKIP $1: $(oneline "$2")"; }
note() { echo "# $*"; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
# The reason a helper gave: its {"error": ...} line, else its last line.
reason_of() {
  local out=$1 err
  err=$(tail -1 <<<"$out" | json_field error 2>/dev/null)
  [ -n "$err" ] && { printf '%s' "$err"; return; }
  grep -v '^[[:space:]]*$' <<<"$out" | tail -1
}
# json_field NAME: the field of the JSON object on stdin (empty when absent).
json_field() {
  "$DEBIAN_PY" -c 'import json, sys
v = json.loads(sys.stdin.read()).get(sys.argv[1])
print("" if v is None else (json.dumps(v) if isinstance(v, (list, dict)) else v))' "$1"
}
lines_of() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# --- what the suite starts, and stops on any exit
rgw_tls_pidfile=
declare -a helper_pids=()
big_keys=()
# shellcheck disable=SC2317  # (run by the trap)
cleanup() {
  stop_all_proxies
  local pid
  for pid in "${helper_pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  stop_rgw_tls
  drop_big_objects
  rm -f -- "$work/big.bin" "$work/big.download"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

newer_python() {
  local py=${BOTO3_NEW_PYTHON:-$(command -v python3 || true)} info
  [ -n "$py" ] || return 1
  info=$("$py" -c 'import os, sys, boto3; print(os.path.realpath(sys.executable), boto3.__version__)' 2>/dev/null) ||
    return 1
  case "$info" in /usr/bin/*) return 1 ;; esac
  printf '%s' "$py"
}
new_py=$(newer_python || true)
[ -n "$new_py" ] && note "newer boto3: $("$new_py" -c 'import boto3; print(boto3.__version__)') ($new_py)"

mkbuckets() { "$DEBIAN_PY" "$rgw_check" mkbucket "$@" >>"$work/mkbucket.log" 2>&1; }

# proxy_conf NAME PORT ADMIN ENDPOINT [SERVER_EXTRA [UPSTREAM_EXTRA]]: $work/NAME.toml, strip mode,
# audit log $work/NAME.audit.jsonl.
proxy_conf() {
  local name=$1 port=$2 admin=$3 endpoint=$4 server_extra=${5:-} upstream_extra=${6:-}
  cat >"$work/$name.toml" <<EOF
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
access_key_id = "$S3_ACCESS_KEY"
secret_access_key = "$S3_SECRET_KEY"

[acl]
mode = "strip"

[audit]
path = "$work/$name.audit.jsonl"
EOF
}
# proxy_up NAME PORT ADMIN: starts the proxy of $work/NAME.toml; sets pid_of[NAME].
# On failure prints "FAIL NAME_start: reason" and returns 1.
declare -A pid_of=()
proxy_up() {
  local name=$1 port=$2 admin=$3
  if [ ! -x "$PROXY_BIN" ]; then
    fail "${name}_start" "no proxy executable at $PROXY_BIN"
    return 1
  fi
  start_proxy "$work/$name.toml" "$work/$name.log"
  pid_of[$name]=$PROXY_PID
  if ! wait_proxy_up "$PROXY_PID" "$port" "$admin"; then
    fail "${name}_start" "proxy not up on $port/$admin: $(tail -1 "$work/$name.log" 2>/dev/null)"
    return 1
  fi
}
wait_port() {
  for _ in $(seq 1 "$PORT_POLLS"); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
kib_of() { awk -v f="$2" '$1 == f":" { print $2 }' "/proc/$1/status" 2>/dev/null; }

# run_client NAME AUDIT CMD...: one client test of clients/ against $S3_ENDPOINT with its own
# bucket and scratch directory; sets client_rc, client_last, client_modes (the payload modes of
# the successful uploads it caused, from AUDIT).
run_client() {
  local name=$1 audit=$2 log=$work/$1.log from
  shift 2
  mkdir -p "$work/tmp/$name"
  from=$(lines_of "$audit")
  S3_BUCKET=tr-${name//_/-} IT_TMP=$work/tmp/$name timeout --kill-after=10 "$CLIENT_TIMEOUT" "$@" \
    >"$log" 2>&1 </dev/null && client_rc=0 || client_rc=$?
  client_last=$(grep -v '^[[:space:]]*$' "$log" | tail -1)
  [ "$client_rc" -ne 124 ] || client_last="timed out after $CLIENT_TIMEOUT s"
  client_modes=$("$DEBIAN_PY" "$client_py" audit-modes "$audit" "$from" | json_field modes)
}
# judge_client NAME WANT_MODE: PASS when the client test passed and the audit log shows an
# upload in WANT_MODE landing (so the test exercised what it is named for).
judge_client() {
  local name=$1 want=$2
  case "$client_rc" in
    0)
      if [ -n "$want" ] && ! grep -qF "\"$want\"" <<<"$client_modes"; then
        fail "$name" "the client test passed, but no upload in $want landed (payload modes seen: $client_modes)"
      else
        pass "$name"
        note "$name: upload payload modes $client_modes"
      fi
      ;;
    77) skip "$name" "$client_last" ;;
    *) fail "$name" "$client_last (see $work/$name.log)" ;;
  esac
}

# ============================================================================================
# 1. TLS towards the client
t_case=$(date +%s.%N)
tls_ok=0
make_certs() {
  local ca=$work/ca
  mkdir -p "$ca"
  # P-256 keys: generated in milliseconds, accepted by every client here.
  local key_args=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${key_args[@]}" -keyout "$ca/ca.key" -out "$ca/ca.pem" -days 2 \
    -subj "/CN=s3-acl-proxy transport test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
    openssl req -x509 "${key_args[@]}" -keyout "$ca/other-ca.key" -out "$ca/other-ca.pem" -days 2 \
      -subj "/CN=some other CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" || return 1
  # server_cert NAME SAN: a certificate signed by the CA.
  server_cert() {
    openssl req "${key_args[@]}" -keyout "$ca/$1.key" -out "$ca/$1.csr" -subj "/CN=$1" &&
      printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$2" >"$ca/$1.ext" &&
      openssl x509 -req -in "$ca/$1.csr" -CA "$ca/ca.pem" -CAkey "$ca/ca.key" -CAcreateserial \
        -out "$ca/$1.pem" -days 2 -extfile "$ca/$1.ext"
  }
  # The proxy: the addresses clients use. The RGW: "localhost" only, so addressing it as
  # 127.0.0.1 must fail the host name check.
  server_cert proxy "IP:127.0.0.1,DNS:localhost,DNS:s3.local,DNS:*.s3.local" &&
    server_cert rgw "DNS:localhost" &&
    openssl verify -CAfile "$ca/ca.pem" "$ca/proxy.pem" "$ca/rgw.pem"
}
ca=$work/ca/ca.pem
if ! make_certs >"$work/certs.log" 2>&1; then
  fail tls_certificates "openssl could not make the test CA and certificates: $(tail -1 "$work/certs.log")"
else
  proxy_conf tls "$p_tls" $((p_tls + 1)) "$RGW_ENDPOINT" \
    "tls_cert_file = \"$work/ca/proxy.pem\"
tls_key_file = \"$work/ca/proxy.key\""
  proxy_up tls "$p_tls" $((p_tls + 1)) && tls_ok=1
fi

if [ "$tls_ok" -eq 1 ]; then
  mkbuckets tr-tls-boto3-debian tr-tls-boto3-new tr-tls-awscli tr-tls-ruby tr-tls-fog tr-tls-js-stream
  (
    # shellcheck disable=SC2030  # each client group has its own endpoint
    export S3_ENDPOINT=https://127.0.0.1:$p_tls S3_CA_BUNDLE=$ca
    audit=$work/tls.audit.jsonl
    # Debian's boto3 over https: UNSIGNED-PAYLOAD with Content-Length.
    run_client tls_boto3_debian "$audit" "$DEBIAN_PY" "$it/clients/boto3_client.py"
    judge_client tls_boto3_debian UNSIGNED-PAYLOAD
    # The newer boto3 over https: STREAMING-UNSIGNED-PAYLOAD-TRAILER, TE chunked.
    if [ -n "$new_py" ]; then
      run_client tls_boto3_new "$audit" "$new_py" "$it/clients/boto3_client.py"
      judge_client tls_boto3_new STREAMING-UNSIGNED-PAYLOAD-TRAILER
    else
      skip tls_boto3_new "no python3 with its own boto3 besides Debian's on PATH (set BOTO3_NEW_PYTHON)"
    fi
    run_client tls_awscli "$audit" "$it/clients/awscli.sh"
    judge_client tls_awscli UNSIGNED-PAYLOAD
    # Ruby aws-sdk-s3 set up as Mastodon does (S3_PROTOCOL=https): hex payload hashes.
    run_client tls_ruby "$audit" ruby "$it/clients/mastodon_paperclip.rb"
    judge_client tls_ruby ""
    run_client tls_fog "$audit" ruby "$it/clients/fog.rb"
    judge_client tls_fog STREAMING-AWS4-HMAC-SHA256-PAYLOAD
    js_dir=$it/clients/js
    if [ -d "$js_dir/node_modules/@aws-sdk/client-s3" ]; then
      # NODE_EXTRA_CA_CERTS as well: the SDK's https agent may not take S3_CA_BUNDLE alone.
      NODE_EXTRA_CA_CERTS=$ca run_client tls_js_stream "$audit" node "$js_dir/s3_client.mjs" stream
      judge_client tls_js_stream STREAMING-UNSIGNED-PAYLOAD-TRAILER
    else
      skip tls_js_stream "the JS SDK is not installed in $js_dir/node_modules (run.sh installs it)"
    fi
  )
  # A plain-http request to the TLS port must not be served.
  if out=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p_tls/tr-tls-fog" 2>&1) &&
    [ "${out:0:1}" = 2 ]; then
    fail tls_plain_http_refused "a plain-http request to the TLS port got $out"
  else
    pass tls_plain_http_refused
  fi
else
  for n in tls_boto3_debian tls_boto3_new tls_awscli tls_ruby tls_fog tls_js_stream; do
    skip "$n" "no TLS proxy (see tls_certificates / tls_start)"
  done
fi
note "case 1 (TLS towards clients): $(elapsed "$t_case") s"

# ============================================================================================
# 2. An https upstream: a second gateway of the RGW's cluster with a beast ssl_endpoint
t_case=$(date +%s.%N)
rgw_tls_name=client.transport-tls
stop_rgw_tls() {
  [ -n "$rgw_tls_pidfile" ] && [ -s "$rgw_tls_pidfile" ] || return 0
  local pid
  pid=$(tr -dc '0-9' <"$rgw_tls_pidfile")
  # Only the gateway started here: its command line names this suite's client name.
  if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-n $rgw_tls_name"; then
    # Gracefully: a gateway killed outright leaves its watches on the cluster's control
    # objects, and every bucket creation on the other gateway then waits ~30 s for it.
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 "$RGW_TLS_STOP_POLLS"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  fi
  rgw_tls_pidfile=
}
rgw_tls_problem=
start_rgw_tls() {
  # The daemon runs from the cluster's ceph.conf with the [client.rgw] settings it needs
  # given on the command line; its pid file and log go beside the RGW's own (rgw-stop.sh
  # stops it with the cluster should this suite be killed).
  local run_dir log_dir
  run_dir=$(dirname "$RGW_CONF")/run
  log_dir=$(dirname "$RGW_CONF")/log
  mkdir -p "$work/rgw-tls"
  rgw_tls_pidfile=$run_dir/$rgw_tls_name.pid
  radosgw -c "$RGW_CONF" --no-mon-config -n "$rgw_tls_name" --rgw-data "$work/rgw-tls" \
    --rgw-dns-name localhost --rgw-thread-pool-size 16 --rgw-enable-usage-log false \
    --rgw-frontends "beast ssl_endpoint=127.0.0.1:$p_rgw_tls ssl_certificate=$work/ca/rgw.pem ssl_private_key=$work/ca/rgw.key" \
    >"$work/rgw-tls.start.log" 2>&1 || { rgw_tls_problem="radosgw did not start: $(tail -1 "$work/rgw-tls.start.log")"; return 1; }
  for _ in $(seq 1 "$RGW_TLS_UP_POLLS"); do
    if curl -s -o /dev/null --max-time 2 --cacert "$ca" "https://localhost:$p_rgw_tls/"; then
      return 0
    fi
    sleep 0.25
  done
  rgw_tls_problem="radosgw with ssl_endpoint not answering https on $p_rgw_tls: $(curl -sS -o /dev/null --max-time 2 --cacert "$ca" "https://localhost:$p_rgw_tls/" 2>&1 | tail -1); log $log_dir/$rgw_tls_name.log: $(tail -1 "$log_dir/$rgw_tls_name.log" 2>/dev/null)"
  return 1
}

# upstream_refused NAME PROXY_NAME PORT: a PUT through that proxy gets 502 UpstreamUnreachable,
# one write_failed/error audit line, and nothing on the RGW.
upstream_refused() {
  local name=$1 port=$3 audit=$work/$2.audit.jsonl out from key=transport/$1
  from=$(lines_of "$audit")
  if ! out=$("$DEBIAN_PY" "$client_py" put-expect-error "http://127.0.0.1:$port" tr-https-upstream "$key" "$IT_DATA/small.bin"); then
    fail "$name" "$(reason_of "$out")"
    return
  fi
  local status code
  status=$(json_field status <<<"$out") code=$(json_field code <<<"$out")
  if [ "$status" != 502 ] || [ "$code" != UpstreamUnreachable ]; then
    fail "$name" "the client got $status $code, expected 502 UpstreamUnreachable"
    return
  fi
  if ! out=$("$DEBIAN_PY" "$client_py" audit-find "$audit" "$from" op=PutObject event=write_failed level=error \
    status=502 s3_code=UpstreamUnreachable); then
    fail "$name" "audit: $(reason_of "$out")"
    return
  fi
  note "$name: audit s3_message: $(json_field s3_message <<<"$out")"
  if ! out=$("$DEBIAN_PY" "$rgw_check" verify - <<<"[{\"bucket\": \"tr-https-upstream\", \"key\": \"$key\", \"absent\": true}]" 2>&1); then
    fail "$name" "$out"
    return
  fi
  pass "$name"
}

if [ "$tls_ok" -ne 1 ]; then
  for n in https_upstream_boto3 https_upstream_fog https_upstream_wrong_ca https_upstream_wrong_name; do
    skip "$n" "no test CA (see tls_certificates)"
  done
elif ! start_rgw_tls; then
  for n in https_upstream_boto3 https_upstream_fog https_upstream_wrong_ca https_upstream_wrong_name; do
    skip "$n" "$rgw_tls_problem"
  done
else
  note "radosgw with beast ssl_endpoint up on https://localhost:$p_rgw_tls"
  mkbuckets tr-https-upstream tr-upstream-boto3 tr-upstream-fog
  proxy_conf up_ok "$p_up_ok" $((p_up_ok + 1)) "https://localhost:$p_rgw_tls" "" "ca_file = \"$ca\""
  proxy_conf up_wrong_ca "$p_up_wrong_ca" $((p_up_wrong_ca + 1)) "https://localhost:$p_rgw_tls" "" \
    "ca_file = \"$work/ca/other-ca.pem\""
  proxy_conf up_wrong_name "$p_up_wrong_name" $((p_up_wrong_name + 1)) "https://127.0.0.1:$p_rgw_tls" "" \
    "ca_file = \"$ca\""
  if proxy_up up_ok "$p_up_ok" $((p_up_ok + 1)); then
    (
      # shellcheck disable=SC2031
      export S3_ENDPOINT=http://127.0.0.1:$p_up_ok
      audit=$work/up_ok.audit.jsonl
      run_client upstream_boto3 "$audit" "$DEBIAN_PY" "$it/clients/boto3_client.py"
      case "$client_rc" in
        0) pass https_upstream_boto3 ;;
        *) fail https_upstream_boto3 "$client_last (see $work/upstream_boto3.log)" ;;
      esac
      # Signed chunks from fog, decoded and re-signed towards the https upstream.
      run_client upstream_fog "$audit" ruby "$it/clients/fog.rb"
      case "$client_rc" in
        0) pass https_upstream_fog ;;
        *) fail https_upstream_fog "$client_last (see $work/upstream_fog.log)" ;;
      esac
    )
  fi
  proxy_up up_wrong_ca "$p_up_wrong_ca" $((p_up_wrong_ca + 1)) &&
    upstream_refused https_upstream_wrong_ca up_wrong_ca "$p_up_wrong_ca"
  proxy_up up_wrong_name "$p_up_wrong_name" $((p_up_wrong_name + 1)) &&
    upstream_refused https_upstream_wrong_name up_wrong_name "$p_up_wrong_name"
  stop_rgw_tls
fi
note "case 2 (https upstream): $(elapsed "$t_case") s"

# ============================================================================================
# 3. Virtual-hosted style, client and upstream
t_case=$(date +%s.%N)
rgw_port=${RGW_ENDPOINT##*:}
rgw_port=${rgw_port%%/*}
tap_record=$work/tap.requests.jsonl
"$DEBIAN_PY" "$fake_py" tap --port "$p_tap" --to "$rgw_port" --record "$tap_record" >"$work/tap.log" 2>&1 &
helper_pids+=($!)
mkbuckets tr-vhost
if ! out=$("$DEBIAN_PY" "$client_py" rgw-vhost tr-vhost transport/rgw-vhost-probe); then
  fail rgw_virtual_hosted "the RGW itself does not answer Host tr-vhost.localhost: $(reason_of "$out")"
else
  pass rgw_virtual_hosted
fi
if ! wait_port "$p_tap"; then
  fail virtual_hosted "the recording relay is not listening on $p_tap: $(tail -1 "$work/tap.log")"
else
  proxy_conf vhost "$p_vhost" $((p_vhost + 1)) "http://localhost:$p_tap" 'domains = ["s3.local"]' \
    'addressing = "virtual"'
  if proxy_up vhost "$p_vhost" $((p_vhost + 1)); then
    prefix=transport/$RUN_ID/vhost/
    if ! out=$("$DEBIAN_PY" "$client_py" vhost "http://s3.local:$p_vhost" tr-vhost "$prefix" \
      "$IT_DATA/small.bin" "$IT_DATA/big.bin"); then
      fail virtual_hosted "$(reason_of "$out")"
    elif ! check=$("$DEBIAN_PY" "$rgw_check" verify - 2>&1 <<EOF
[{"bucket": "tr-vhost", "key": "${prefix}small.png", "file": "$IT_DATA/small.bin", "content_type": "image/png",
  "cache_control": "public, max-age=315576000, immutable", "acl": "private"},
 {"bucket": "tr-vhost", "key": "${prefix}big.bin", "file": "$IT_DATA/big.bin", "multipart": true, "acl": "private"},
 {"bucket": "tr-vhost", "key": "${prefix}gone", "absent": true}]
EOF
    ); then
      fail virtual_hosted "$check"
    elif ! check=$("$DEBIAN_PY" - "$tap_record" "tr-vhost.localhost:$p_tap" 2>&1 <<'EOF'
import json, sys
path, want_host = sys.argv[1], sys.argv[2]
reqs = [json.loads(l) for l in open(path) if l.strip()]
# The proxy's own health probe of the upstream (GET / to the endpoint) addresses no bucket.
probe_host = want_host.split(".", 1)[1]
reqs = [r for r in reqs if not (r["method"] == "GET" and r["target"] == "/" and r["host"] == probe_host)]
bad = [r for r in reqs if r["host"] != want_host or r["target"].startswith("/tr-vhost/") or r["target"].split("?")[0] == "/tr-vhost"]
# put, create/3 parts/complete, get, head, list, put, delete: ten at least.
if len(reqs) < 10 or bad:
    sys.exit(f"upstream requests: {len(reqs)}, not virtual-hosted as {want_host}: {bad[:3]}")
print(f"{len(reqs)} upstream requests, all Host {want_host}")
EOF
    ); then
      fail virtual_hosted "$check"
    else
      pass virtual_hosted
      note "virtual_hosted: client Host tr-vhost.s3.local:$p_vhost; $check"
    fi
    # A path-style client through the same proxy: still addressed virtual-hosted upstream.
    from=$(lines_of "$tap_record")
    key=transport/$RUN_ID/vhost/path-client.bin
    if ! out=$("$DEBIAN_PY" "$client_py" put-file "http://127.0.0.1:$p_vhost" tr-vhost "$key" "$IT_DATA/small.bin"); then
      fail path_client_virtual_upstream "$(reason_of "$out")"
    elif ! check=$("$DEBIAN_PY" "$rgw_check" verify - 2>&1 <<<"[{\"bucket\": \"tr-vhost\", \"key\": \"$key\", \"file\": \"$IT_DATA/small.bin\"}]"); then
      fail path_client_virtual_upstream "$check"
    elif ! tail -n +"$((from + 1))" "$tap_record" | grep -qF "\"target\": \"/$key\", \"host\": \"tr-vhost.localhost:$p_tap\""; then
      fail path_client_virtual_upstream "the relay saw no PUT /$key to Host tr-vhost.localhost:$p_tap: $(tail -n +"$((from + 1))" "$tap_record" | head -3)"
    else
      pass path_client_virtual_upstream
    fi
  else
    skip path_client_virtual_upstream "no proxy (see vhost_start)"
  fi
fi
note "case 3 (virtual-hosted): $(elapsed "$t_case") s"

# ============================================================================================
# 4. Large objects
t_case=$(date +%s.%N)
gc_now() {
  # Deleted objects' data stays in the memstore until the RGW's garbage collection (hours by
  # default); the OSD holds 2 GiB, so it is collected now.
  for _ in 1 2 3; do
    radosgw-admin -c "$RGW_CONF" gc process --include-all >/dev/null 2>>"$work/gc.log" && return 0
    sleep 0.5
  done
  return 1
}
drop_big_objects() {
  [ "${#big_keys[@]}" -gt 0 ] || return 0
  "$DEBIAN_PY" - "${big_keys[@]}" >>"$work/gc.log" 2>&1 <<'EOF'
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["RGW_ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id=os.environ["RGW_ACCESS_KEY"], aws_secret_access_key=os.environ["RGW_SECRET_KEY"])
for key in sys.argv[1:]:
    s3.delete_object(Bucket="tr-large", Key=key)
EOF
  big_keys=()
  gc_now
}
mib_per_s() { awk -v b="$BIG_BYTES" -v s="$1" 'BEGIN { if (s > 0) printf "%.0f", b / 1048576 / s; else print "?" }'; }

# big_upload NAME PY ENDPOINT KEY WANT_MODE AUDIT: put the 1 GiB file through a proxy, then
# compare what the RGW holds with the source.
big_upload() {
  local name=$1 py=$2 endpoint=$3 key=$4 want=$5 audit=$6 out from got
  from=$(lines_of "$audit")
  big_keys+=("$key")
  if ! out=$(timeout "$BIG_TIMEOUT" "$py" "$client_py" put-file "$endpoint" tr-large "$key" "$work/big.bin"); then
    fail "$name" "$(reason_of "$out")"
    return 1
  fi
  local secs
  secs=$(json_field seconds <<<"$out")
  if ! out=$("$DEBIAN_PY" "$client_py" audit-find "$audit" "$from" op=PutObject status=200 "key=$key"); then
    fail "$name" "audit: $(reason_of "$out")"
    return 1
  fi
  if [ "$(json_field payload_mode <<<"$out")" != "$want" ] || [ "$(json_field bytes_in <<<"$out")" != "$BIG_BYTES" ]; then
    fail "$name" "audit shows payload mode $(json_field payload_mode <<<"$out"), $(json_field bytes_in <<<"$out") bytes; expected $want, $BIG_BYTES"
    return 1
  fi
  local t0
  t0=$(date +%s.%N)
  if ! got=$(timeout "$BIG_TIMEOUT" "$DEBIAN_PY" "$client_py" rgw-sha tr-large "$key"); then
    fail "$name" "reading it back from the RGW: $(reason_of "$got")"
    return 1
  fi
  if [ "$(json_field sha256 <<<"$got")" != "$big_sha" ] || [ "$(json_field size <<<"$got")" != "$BIG_BYTES" ]; then
    fail "$name" "the RGW holds $(json_field size <<<"$got") bytes sha256 $(json_field sha256 <<<"$got"), the source is $BIG_BYTES bytes sha256 $big_sha"
    return 1
  fi
  pass "$name"
  note "$name: 1 GiB $want PUT in $secs s ($(mib_per_s "$secs") MiB/s); read back from the RGW directly in $(elapsed "$t0") s"
}
big_download() {
  local name=$1 py=$2 endpoint=$3 key=$4 out
  if ! out=$(timeout "$BIG_TIMEOUT" "$py" "$client_py" get-file "$endpoint" tr-large "$key" "$work/big.download"); then
    fail "$name" "$(reason_of "$out")"
  elif [ "$(json_field sha256 <<<"$out")" != "$big_sha" ] || [ "$(json_field size <<<"$out")" != "$BIG_BYTES" ]; then
    fail "$name" "downloaded $(json_field size <<<"$out") bytes sha256 $(json_field sha256 <<<"$out"), the source is $BIG_BYTES bytes sha256 $big_sha"
  else
    pass "$name"
    note "$name: 1 GiB GET streamed to a file in $(json_field seconds <<<"$out") s ($(mib_per_s "$(json_field seconds <<<"$out")") MiB/s)"
  fi
  rm -f -- "$work/big.download"
}
# peak_rss NAME PROXY: the proxy's VmHWM against PEAK_RSS_LIMIT_KIB.
peak_rss() {
  local name=$1 pid=${pid_of[$2]:-} hwm
  hwm=$(kib_of "$pid" VmHWM)
  if [ -z "$hwm" ]; then
    fail "$name" "the proxy (pid ${pid:-none}) is gone: $(tail -1 "$work/$2.log" 2>/dev/null)"
    return
  fi
  echo "# proxy peak RSS: $hwm KiB ($2; after start: ${rss_at_start[$2]:-?} KiB; bound $PEAK_RSS_LIMIT_KIB KiB)"
  if [ "$hwm" -lt "$PEAK_RSS_LIMIT_KIB" ]; then pass "$name"; else fail "$name" "peak RSS $hwm KiB >= $PEAK_RSS_LIMIT_KIB KiB"; fi
}

declare -A rss_at_start=()
mkbuckets tr-large
t0=$(date +%s.%N)
# Hashed while it is written (two processes, two cores).
if ! big_sha=$(head -c "$BIG_BYTES" /dev/urandom | tee "$work/big.bin" | sha256sum | cut -d' ' -f1) ||
  [ "$(stat -c %s "$work/big.bin" 2>/dev/null)" != "$BIG_BYTES" ]; then
  for n in large_put_hex large_get large_put_trailer large_peak_rss_http large_peak_rss_tls; do
    skip "$n" "could not write a 1 GiB file in $work"
  done
else
  note "1 GiB test file written and hashed in $(elapsed "$t0") s"
  # Over http, Debian's boto3 signs the body's hex SHA-256, which the proxy checks as it streams.
  proxy_conf big_http "$p_big_http" $((p_big_http + 1)) "$RGW_ENDPOINT"
  if proxy_up big_http "$p_big_http" $((p_big_http + 1)); then
    rss_at_start[big_http]=$(kib_of "${pid_of[big_http]}" VmRSS)
    if big_upload large_put_hex "$DEBIAN_PY" "http://127.0.0.1:$p_big_http" transport/big-hex SHA256 \
      "$work/big_http.audit.jsonl"; then
      big_download large_get "$DEBIAN_PY" "http://127.0.0.1:$p_big_http" transport/big-hex
    else
      skip large_get "no 1 GiB object (see large_put_hex)"
    fi
    drop_big_objects || note "radosgw-admin gc process failed: $(tail -1 "$work/gc.log")"
    peak_rss large_peak_rss_http big_http
  fi
  # Over https, the newer boto3 streams aws-chunked with a trailer checksum in TE chunked;
  # the proxy re-signs it as signed chunks for the RGW.
  if [ "$tls_ok" -ne 1 ]; then
    skip large_put_trailer "no test certificate (see tls_certificates)"
  elif [ -z "$new_py" ]; then
    skip large_put_trailer "no python3 with its own boto3 besides Debian's on PATH (set BOTO3_NEW_PYTHON)"
  else
    proxy_conf big_tls "$p_big_tls" $((p_big_tls + 1)) "$RGW_ENDPOINT" \
      "tls_cert_file = \"$work/ca/proxy.pem\"
tls_key_file = \"$work/ca/proxy.key\""
    if proxy_up big_tls "$p_big_tls" $((p_big_tls + 1)); then
      rss_at_start[big_tls]=$(kib_of "${pid_of[big_tls]}" VmRSS)
      S3_CA_BUNDLE=$ca big_upload large_put_trailer "$new_py" "https://127.0.0.1:$p_big_tls" transport/big-trailer \
        STREAMING-UNSIGNED-PAYLOAD-TRAILER "$work/big_tls.audit.jsonl"
      drop_big_objects || note "radosgw-admin gc process failed: $(tail -1 "$work/gc.log")"
      peak_rss large_peak_rss_tls big_tls
    fi
  fi
fi
rm -f -- "$work/big.bin"
note "case 4 (large objects): $(elapsed "$t_case") s"

# ============================================================================================
# 5. Upstream cut off
t_case=$(date +%s.%N)
fake_record=$work/fake.requests.jsonl
"$DEBIAN_PY" "$fake_py" cut --port "$p_fake" --record "$fake_record" >"$work/fake.log" 2>&1 &
helper_pids+=($!)
# seen_by_fake METHOD TARGET: the request reached the fake (so the proxy's answer is about the
# cut, not about an upstream it never reached).
seen_by_fake() { grep -qF "\"method\": \"$1\", \"target\": \"$2\"" "$fake_record"; }
if ! wait_port "$p_fake"; then
  for n in fake_upstream_cut_get fake_upstream_close_put fake_upstream_close_put_no_expect; do
    fail "$n" "the fake upstream is not listening on $p_fake: $(tail -1 "$work/fake.log")"
  done
else
  proxy_conf fake "$p_fake_proxy" $((p_fake_proxy + 1)) "http://127.0.0.1:$p_fake"
  if proxy_up fake "$p_fake_proxy" $((p_fake_proxy + 1)); then
    audit=$work/fake.audit.jsonl
    ep=http://127.0.0.1:$p_fake_proxy
    from=$(lines_of "$audit")
    if ! out=$("$DEBIAN_PY" "$client_py" get-cut "$ep" tr-fake cut/object 1000); then
      fail fake_upstream_cut_get "$(reason_of "$out")"
    elif ! seen_by_fake GET /tr-fake/cut/object; then
      fail fake_upstream_cut_get "the fake never saw the GET (the client got: $out)"
    else
      pass fake_upstream_cut_get
      note "fake_upstream_cut_get: client saw $out"
      line=$("$DEBIAN_PY" "$client_py" audit-find "$audit" "$from" op=GetObject)
      note "fake_upstream_cut_get: audit $(json_field event <<<"$line")/$(json_field level <<<"$line") status $(json_field status <<<"$line") s3_code $(json_field s3_code <<<"$line")"
    fi
    # put_closed NAME BODY: the fake reads the PUT's head and closes: 502, write_failed at error.
    put_closed() {
      local name=$1 body=$2 key=cut/$1 from
      from=$(lines_of "$audit")
      if ! out=$("$DEBIAN_PY" "$client_py" put-expect-error "$ep" tr-fake "$key" "$body"); then
        fail "$name" "$(reason_of "$out")"
      elif [ "$(json_field status <<<"$out")" != 502 ]; then
        fail "$name" "the client got $(json_field status <<<"$out") $(json_field code <<<"$out"), expected 502"
      elif ! seen_by_fake PUT "/tr-fake/$key"; then
        fail "$name" "the fake never saw the PUT (the client got: $out)"
      elif ! line=$("$DEBIAN_PY" "$client_py" audit-find "$audit" "$from" op=PutObject event=write_failed level=error status=502); then
        fail "$name" "audit: $(reason_of "$line")"
      else
        pass "$name"
        note "$name: client got 502 $(json_field code <<<"$out")"
      fi
    }
    # A file body: botocore sends Expect: 100-continue, so the fake closes while the proxy
    # waits for its interim answer. 100 bytes: no Expect, the body goes at once.
    put_closed fake_upstream_close_put "$IT_DATA/small.bin"
    put_closed fake_upstream_close_put_no_expect -
  fi
fi
note "case 5 (upstream cut off): $(elapsed "$t_case") s"
note "transport suite: $(elapsed "$t_suite") s"
exit 0
