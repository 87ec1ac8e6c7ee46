#!/usr/bin/env bash
# Suite "observability": the proxy is never silent about uploads that do not land, shown
# against the real RGW with real tools.
#  - A real Prometheus (Debian's) scrapes an audit-mode proxy in front of a "deny wins"
#    bucket; after N denied uploads from Mastodon's Ruby SDK a query over its HTTP API shows
#    s3_acl_proxy_write_failures_total{op="PutObject",event="write_denied",s3_code="AccessDenied"}
#    risen by N. `promtool check metrics` accepts the live /metrics.
#  - Canary: /readyz is 200 on a healthy bucket, turns 503 (naming AccessDenied, with a
#    canary error line in the audit log) within one interval plus a margin once a deny-wins
#    policy is applied, and recovers once it is removed.
#  - verify_writes against fakes/fake_phantom_upstream.py (a FAKE that acknowledges writes and
#    stores nothing): PutObject becomes 502 PhantomWrite with one phantom_write record; without
#    verify_writes the same upload gets 200.
#  - `s3-acl-proxy check` on healthy, deny-wins and ACL-denying buckets; `lint-policy` on the
#    policies applied here. The latency cost of verify_writes, measured (a note, not asserted).
# Contract (env in, PASS/FAIL/SKIP lines out, exit 0): tests/integration/README.md, "Suites".
# Ports: SUITE_PORT_BASE (Prometheus), +1 (the fake), +10.. (six proxies, two ports each).
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
export SUITE_CLIENT_KEY=AKIAOBSSUITEEXAMPLE SUITE_CLIENT_SECRET=obssuitesecretobssuitesecret0000
PROMETHEUS_BIN=${PROMETHEUS_BIN:-/usr/bin/prometheus}
# How often the canary proxy runs its synthetic write check, and Prometheus scrapes.
export OBS_CANARY_INTERVAL_S=2
PROM_SCRAPE_INTERVAL=1s
# Bounds a broken Prometheus start (it is ready in 1-3 s).
PROM_READY_POLLS=300 # x 0.1 s

fake_pid=""
prom_pid=""
# shellcheck disable=SC2317  # (run by the trap)
cleanup() {
  stop_all_proxies
  local pid
  for pid in $fake_pid $prom_pid; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

run=$$
canary_bucket=obs-canary-$run
export OBS_BUCKETS="{\"deny_wins\":\"obs-deny-wins-$run\",\"deny_acl\":\"obs-deny-acl-$run\",\
\"canary\":\"$canary_bucket\",\"healthy\":\"obs-healthy-$run\",\"not_principal\":\"obs-not-principal-$run\"}"
py() { /usr/bin/python3 "$it/lib/observability_suite.py" "$@"; }

# Buckets (and their policies) first: the canary proxy checks its bucket from the start.
py setup || exit 0

# obs_proxy NAME S3_PORT ADMIN_PORT ENDPOINT MODE VERIFY_WRITES [CANARY_BUCKET]: writes
# $SUITE_WORK/NAME.toml and starts the proxy (suite_proxy's config has no [canary] or
# verify_writes); on failure prints "FAIL NAME_start: reason" and returns 1.
obs_proxy() {
  local name=$1 port=$2 admin=$3 endpoint=$4 mode=$5 verify=$6 canary=${7:-}
  local conf=$SUITE_WORK/$name.toml log=$SUITE_WORK/$name.log
  cat >"$conf" <<EOF
[server]
listen = "127.0.0.1:$port"
admin_listen = "127.0.0.1:$admin"

[upstream]
endpoint = "$endpoint"
region = "us-east-1"
access_key_id = "$RGW_ACCESS_KEY"
secret_access_key = "$RGW_SECRET_KEY"
verify_writes = $verify

[[clients]]
access_key_id = "$SUITE_CLIENT_KEY"
secret_access_key = "$SUITE_CLIENT_SECRET"

[acl]
mode = "$mode"

[audit]
path = "$SUITE_WORK/$name.audit.jsonl"
EOF
  if [ -n "$canary" ]; then
    printf '\n[canary]\nbucket = "%s"\nprefix = ".s3-acl-proxy/canary/"\ninterval = "%ss"\n' \
      "$canary" "$OBS_CANARY_INTERVAL_S" >>"$conf"
  fi
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

fake_port=$((SUITE_PORT_BASE + 1))
fake_record=$SUITE_WORK/fake-phantom.requests.jsonl
/usr/bin/python3 "$it/fakes/fake_phantom_upstream.py" --port "$fake_port" --record "$fake_record" \
  >"$SUITE_WORK/fake-phantom.log" 2>&1 &
fake_pid=$!
if ! wait_port "$fake_port"; then
  echo "FAIL fake_upstream_start: not listening on $fake_port: $(tail -1 "$SUITE_WORK/fake-phantom.log")"
  exit 0
fi

# name upstream mode verify_writes canary_bucket
proxies=(
  "metrics $RGW_ENDPOINT audit false"
  "canary $RGW_ENDPOINT strip false $canary_bucket"
  "phantom_verify http://127.0.0.1:$fake_port strip true"
  "phantom_plain http://127.0.0.1:$fake_port strip false"
  "latency_plain $RGW_ENDPOINT strip false"
  "latency_verify $RGW_ENDPOINT strip true"
)
json="{" i=0
for spec in "${proxies[@]}"; do
  read -r name endpoint mode verify canary <<<"$spec"
  port=$((SUITE_PORT_BASE + 10 + 2 * i)) admin=$((SUITE_PORT_BASE + 11 + 2 * i))
  obs_proxy "$name" "$port" "$admin" "$endpoint" "$mode" "$verify" "$canary" || exit 0
  [ "$i" -eq 0 ] || json+=","
  json+="\"$name\":{\"endpoint\":\"http://127.0.0.1:$port\",\"admin\":\"http://127.0.0.1:$admin\",\
\"audit\":\"$SUITE_WORK/$name.audit.jsonl\",\"config\":\"$SUITE_WORK/$name.toml\"}"
  declare "admin_$name=$admin"
  i=$((i + 1))
done
json+="}"

# --- Prometheus (Debian's), scraping the metrics and canary proxies every second.
prom_port=$SUITE_PORT_BASE
prom_conf=$SUITE_WORK/prometheus.yml
# shellcheck disable=SC2154  # admin_* are set by declare above
cat >"$prom_conf" <<EOF
global:
  scrape_interval: $PROM_SCRAPE_INTERVAL
  scrape_timeout: $PROM_SCRAPE_INTERVAL
  evaluation_interval: $PROM_SCRAPE_INTERVAL
scrape_configs:
  - job_name: metrics
    static_configs:
      - targets: ["127.0.0.1:$admin_metrics"]
  - job_name: canary
    static_configs:
      - targets: ["127.0.0.1:$admin_canary"]
EOF
prom_url=
if [ ! -x "$PROMETHEUS_BIN" ]; then
  echo "# no Prometheus at $PROMETHEUS_BIN: the Prometheus checks are skipped"
else
  "$PROMETHEUS_BIN" --config.file="$prom_conf" --storage.tsdb.path="$SUITE_WORK/prometheus-data" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$SUITE_WORK/prometheus.log" 2>&1 &
  prom_pid=$!
  for _ in $(seq 1 "$PROM_READY_POLLS"); do
    kill -0 "$prom_pid" 2>/dev/null || break
    if curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$prom_port/-/ready"; then
      prom_url=http://127.0.0.1:$prom_port
      break
    fi
    sleep 0.1
  done
  [ -n "$prom_url" ] || echo "FAIL prometheus_start: not ready on $prom_port: $(tail -1 "$SUITE_WORK/prometheus.log")"
fi

OBS_PROXIES=$json OBS_PROMETHEUS=$prom_url OBS_FAKE_RECORD=$fake_record OBS_CLIENT_KEY=$SUITE_CLIENT_KEY \
  OBS_CLIENT_SECRET=$SUITE_CLIENT_SECRET py run
exit 0
