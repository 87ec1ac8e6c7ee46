#!/usr/bin/env bash
# Checks the deployment files that cannot be run here:
# - deploy/k8s/s3-acl-proxy.yaml: parsed, validated against the Kubernetes API schemas of the
#   npm package kubernetes-models (tests/deploy/validate_k8s.mjs, installed with `npm ci` into
#   tests/deploy/node_modules), checked for how its pieces fit (tests/deploy/check_k8s.py),
#   and its ConfigMap's config accepted by `s3-acl-proxy --check` with the Secret's files where
#   the pod mounts them (a private /run for that one command);
# - deploy/alloy/config.alloy, conf/loki/s3-acl-proxy-rules.yml and
#   conf/grafana/s3-acl-proxy-audit.json against real audit lines captured from an integration
#   run (tests/data/audit/integration-run.jsonl; tests/integration/run.sh runs the same check on
#   the lines of its own run) with tests/deploy/check_log_pipeline.py;
# - that each checker rejects a deliberately broken copy, so a checker that stopped finding
#   anything cannot pass.
# Needs python3 with yaml, node and npm, and build/s3-acl-proxy (or PROXY_BIN). Root for the
# --check of the ConfigMap's config (a mount namespace). Takes a few seconds.
# Prints one PASS/FAIL line per check, then "N passed, N failed"; exits 1 on any failure.
set -uo pipefail
export PYTHONDONTWRITEBYTECODE=1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

manifest=deploy/k8s/s3-acl-proxy.yaml
alloy=deploy/alloy/config.alloy
rules=conf/loki/s3-acl-proxy-rules.yml
dashboard=conf/grafana/s3-acl-proxy-audit.json
fixture=tests/data/audit/integration-run.jsonl
proxy_bin=${PROXY_BIN:-build/s3-acl-proxy}

passed=0 failed=0
tmp=$(mktemp -d /tmp/s3p-check-deploy.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out
run() {
  local name=$1; shift
  if "$@" >"$out" 2>&1; then echo "PASS $name"; passed=$((passed + 1))
  else echo "FAIL $name"; sed 's/^/    /' "$out" | head -30; failed=$((failed + 1)); fi
}
rejects() {
  local name=$1; shift
  if "$@" >"$out" 2>&1; then echo "FAIL $name (accepted)"; failed=$((failed + 1))
  else echo "PASS $name"; passed=$((passed + 1)); fi
}

# Kubernetes
if [ ! -d tests/deploy/node_modules/kubernetes-models ]; then
  (cd tests/deploy && npm ci --no-audit --no-fund) >"$tmp/npm.log" 2>&1 || { echo "FAIL k8s: npm ci in tests/deploy failed"; sed 's/^/    /' "$tmp/npm.log" | tail -5; }
fi
python3 tests/deploy/check_k8s.py "$manifest" --json >"$tmp/k8s.json" 2>"$out"
run "k8s_schema ($manifest against kubernetes-models $(sed -nE 's/.*"version": "([^"]+)".*/\1/p' tests/deploy/node_modules/kubernetes-models/package.json 2>/dev/null))" \
  sh -c 'node tests/deploy/validate_k8s.mjs <"$1"' sh "$tmp/k8s.json"
sed 's/containerPort: 9090}/containerPort: "9090"}/' "$manifest" >"$tmp/bad.yaml"
python3 tests/deploy/check_k8s.py "$tmp/bad.yaml" --json >"$tmp/bad.json"
rejects "k8s_schema rejects a port given as a string" sh -c 'node tests/deploy/validate_k8s.mjs <"$1"' sh "$tmp/bad.json"
run "k8s_manifest_fits_together (sidecars, probes, ports, secrets, check CronJob)" \
  python3 tests/deploy/check_k8s.py "$manifest" --config-out "$tmp/k8s.toml"
sed 's|path: /readyz|path: /healthz|' "$manifest" >"$tmp/bad.yaml"
rejects "k8s_manifest check rejects readiness on /healthz" python3 tests/deploy/check_k8s.py "$tmp/bad.yaml"
# The ConfigMap's config through --check, its secret files where the Secret is mounted.
dirs=$(sed -nE 's/.*secret_access_key_file = "(.*)\/[^/]*".*/\1/p' "$tmp/k8s.toml" | sort -u)
# shellcheck disable=SC2016
run "k8s_config_passes_check ($proxy_bin --check on the ConfigMap's config)" \
  unshare -m --propagation private sh -c '
    set -e
    mount -t tmpfs tmpfs /run
    for f in $(sed -nE "s/.*secret_access_key_file = \"(.*)\".*/\1/p" "$2"); do
      mkdir -p "$(dirname "$f")"; echo k8s-test-secret >"$f"; done
    exec "$1" --config "$2" --check' sh "$proxy_bin" "$tmp/k8s.toml"
[ -n "$dirs" ] || { echo "FAIL k8s: the ConfigMap's config reads no secret file"; failed=$((failed + 1)); }

# Alloy, Loki rules, the audit dashboard against real audit lines.
pipeline() { python3 tests/deploy/check_log_pipeline.py --alloy "$1" --loki-rules "$2" --dashboard "$3" "$fixture"; }
pipeline "$alloy" "$rules" "$dashboard" >"$out" 2>&1
pipe_rc=$?
cat "$out"
passed=$((passed + $(grep -c '^PASS' "$out"))) failed=$((failed + $(grep -c '^FAIL' "$out")))
[ "$pipe_rc" -eq 0 ] || grep -q '^FAIL' "$out" || { echo "FAIL check_log_pipeline exited $pipe_rc"; failed=$((failed + 1)); }
sed 's/"op"    = "",/"key" = "",/' "$alloy" >"$tmp/bad.alloy"
rejects "log pipeline check rejects key as a stream label" pipeline "$tmp/bad.alloy" "$rules" "$dashboard"
sed 's/event="write_denied"/event="write_denid"/' "$rules" >"$tmp/bad-rules.yml"
rejects "log pipeline check rejects a rule on an event never written" pipeline "$alloy" "$tmp/bad-rules.yml" "$dashboard"
sed 's/sum by (step, s3_code)/sum by (step, s3_error)/' "$dashboard" >"$tmp/bad-dash.json"
rejects "log pipeline check rejects a dashboard grouping by a field never written" pipeline "$alloy" "$rules" "$tmp/bad-dash.json"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
