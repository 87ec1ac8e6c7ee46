#!/usr/bin/env bash
# Checks the alerting rules and the dashboard in conf/: Prometheus rules with promtool
# (syntax and unit tests), and with tests/rules/*.py that every metric, label, audit log
# field and value they name is one the proxy really produces. Also checks that those
# checkers reject the deliberate mistakes in tests/rules/bad/, so a checker that stopped
# finding anything cannot pass silently.
#
# Needs only Debian packages: prometheus (promtool), python3, python3-yaml
# (scripts/install-deps.sh test installs them). Takes a few seconds.
# Prints one PASS/FAIL line per check, then "N passed, N failed"; exits 1 on any failure.
set -uo pipefail
export PYTHONDONTWRITEBYTECODE=1  # keep the source tree free of __pycache__
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

alerts=conf/prometheus/s3-acl-proxy-alerts.yml
alert_tests=tests/rules/s3-acl-proxy-alerts.test.yml
loki=conf/loki/s3-acl-proxy-rules.yml
dashboard=conf/grafana/s3-acl-proxy-dashboard.json
checkers=tests/rules
bad=tests/rules/bad

passed=0
failed=0
out=$(mktemp /tmp/s3p-check-rules.XXXXXX)
trap 'rm -f "$out"' EXIT

# run NAME COMMAND...: PASS when the command exits 0; on FAIL shows its output.
run() {
  local name=$1
  shift
  if "$@" >"$out" 2>&1; then
    echo "PASS $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    sed 's/^/    /' "$out"
    failed=$((failed + 1))
  fi
}

# rejects NAME EXPECT_FILE COMMAND...: PASS when the command exits 1 and its output holds
# every line of EXPECT_FILE.
rejects() {
  local name=$1 expect=$2 rc missing
  shift 2
  "$@" >"$out" 2>&1
  rc=$?
  missing=$(grep -vxF '' "$expect" | while IFS= read -r line; do grep -qF -- "$line" "$out" || echo "$line"; done)
  if [ "$rc" -eq 1 ] && [ -z "$missing" ]; then
    echo "PASS $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name (exit $rc; expected 1 and these problems reported)"
    [ -n "$missing" ] && printf '    not reported: %s\n' "$missing"
    sed 's/^/    output: /' "$out"
    failed=$((failed + 1))
  fi
}

need() {
  if ! "$@" >/dev/null 2>&1; then
    echo "FAIL prerequisites: '$*' failed (run scripts/install-deps.sh test)"
    echo "0 passed, 1 failed"
    exit 1
  fi
}
need command -v promtool
need python3 -c 'import yaml'

run "promtool check rules ($alerts)" promtool check rules "$alerts"
run "promtool test rules ($alert_tests)" promtool test rules "$alert_tests"
run "Prometheus rules and test series name real metrics, labels and values" \
  python3 "$checkers/check_prometheus_names.py" "$alerts" "$alert_tests"

# Where the repository carries its interface document, the Loki rules may only use audit
# log fields it documents as well as ones the code writes.
interface_args=()
for doc in INTERFACE.md docs/INTERFACE.md; do
  [ -f "$doc" ] && interface_args=(--interface "$doc") && break
done
run "Loki rules are well formed and use real audit log fields (LogQL syntax not checked)" \
  python3 "$checkers/check_loki_rules.py" "$loki" "${interface_args[@]}"
run "Grafana dashboard is JSON and queries real metrics" \
  python3 "$checkers/check_grafana_dashboard.py" "$dashboard"

rejects "name check rejects the broken Prometheus rules in $bad" "$bad/prometheus.expect" \
  python3 "$checkers/check_prometheus_names.py" "$bad/prometheus-alerts.yml" "$bad/prometheus-alerts.test.yml"
rejects "Loki check rejects the broken rules in $bad" "$bad/loki.expect" \
  python3 "$checkers/check_loki_rules.py" "$bad/loki-rules.yml"
rejects "dashboard check rejects the broken dashboard in $bad" "$bad/grafana.expect" \
  python3 "$checkers/check_grafana_dashboard.py" "$bad/grafana-dashboard.json"
rejects "dashboard check rejects a file that is not JSON" "$bad/grafana-not-json.expect" \
  python3 "$checkers/check_grafana_dashboard.py" "$bad/grafana-not-json.json"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
