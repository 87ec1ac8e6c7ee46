#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test: the unit tests (one gtest process,
# fuzz corpus replays by ctest) and the integration tests against a throwaway Ceph RGW with real S3 clients.
# Ends with one line "N passed, N failed" over both; exits non-zero if anything failed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/install-deps.sh test
bash scripts/build.sh

unit_log=$(mktemp /tmp/s3p-unit.XXXXXX)
fuzz_log=$(mktemp /tmp/s3p-fuzz.XXXXXX)
set +e
# The unit tests in one process (ctest would start one process per test, minutes instead of
# seconds); the fuzz corpus replays through ctest.
build/s3p_tests --gtest_brief=1 2>&1 | tee "$unit_log"
unit_rc=${PIPESTATUS[0]}
(cd build && ctest --output-on-failure -j"$(nproc)" -L fuzz) 2>&1 | tee "$fuzz_log" | grep -vE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed'
[ "${PIPESTATUS[0]}" -eq 0 ] || unit_rc=1
rules_log=$(mktemp /tmp/s3p-rules.XXXXXX)
bash scripts/check-rules.sh 2>&1 | tee "$rules_log"
rules_rc=${PIPESTATUS[0]}
# The deployment files (Kubernetes, Alloy, Loki, dashboard), the Debian package and the
# container image with the Compose stack, each printing PASS/FAIL lines and "N passed, N failed".
deploy_log=$(mktemp /tmp/s3p-deploy.XXXXXX)
bash scripts/check-deploy.sh 2>&1 | tee "$deploy_log"
deploy_rc=${PIPESTATUS[0]}
bash scripts/package-check.sh 2>&1 | tee -a "$deploy_log"
[ "${PIPESTATUS[0]}" -eq 0 ] || deploy_rc=1
bash scripts/container-check.sh 2>&1 | tee -a "$deploy_log"
[ "${PIPESTATUS[0]}" -eq 0 ] || deploy_rc=1
it_log=$(mktemp /tmp/s3p-it-log.XXXXXX)
bash tests/integration/run.sh 2>&1 | tee "$it_log"
it_rc=${PIPESTATUS[0]}
# The benchmark in its smoke mode (seconds, no thresholds): every case still runs end to end,
# so the benchmark cannot rot; it counts as one check.
bench_log=$(mktemp /tmp/s3p-bench-log.XXXXXX)
SMOKE=1 bash bench/run.sh >"$bench_log" 2>&1
bench_rc=$?
if [ "$bench_rc" -eq 0 ]; then echo "PASS bench_smoke"; else echo "FAIL bench_smoke (exit $bench_rc):"; tail -20 "$bench_log"; fi
rm -f "$bench_log"
set -e

# gtest: "[==========] 2500 tests from 169 test suites ran." and, on failures,
# "[  FAILED  ] 3 tests, listed below:"; ctest: "100% tests passed, 0 tests failed out of 7".
gtest_total=$(sed -nE 's/^\[=+\] ([0-9]+) tests? from .* ran\..*/\1/p' "$unit_log" | tail -n1)
gtest_failed=$(sed -nE 's/^\[  FAILED  \] ([0-9]+) tests?, listed below:.*/\1/p' "$unit_log" | tail -n1)
gtest_failed=${gtest_failed:-0}
[ -n "$gtest_total" ] || { gtest_total=1 gtest_failed=1; }  # crashed before its summary
fuzz_total=$(sed -nE 's/.*tests passed, ([0-9]+) tests failed out of ([0-9]+).*/\2/p' "$fuzz_log" | tail -n1)
fuzz_failed=$(sed -nE 's/.*tests passed, ([0-9]+) tests failed out of ([0-9]+).*/\1/p' "$fuzz_log" | tail -n1)
[ -n "$fuzz_total" ] || { fuzz_total=1 fuzz_failed=1; }
unit_total=$((gtest_total + fuzz_total)) unit_failed=$((gtest_failed + fuzz_failed))
it_passed=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed.*/\1/p' "$it_log" | tail -n1)
it_failed=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed.*/\2/p' "$it_log" | tail -n1)
rules_passed=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed.*/\1/p' "$rules_log" | tail -n1)
rules_failed=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed.*/\2/p' "$rules_log" | tail -n1)
deploy_passed=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed.*/\1/p' "$deploy_log" | awk '{ n += $1 } END { print n + 0 }')
deploy_failed=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed.*/\2/p' "$deploy_log" | awk '{ n += $1 } END { print n + 0 }')
[ "$(grep -cE '^[0-9]+ passed, [0-9]+ failed' "$deploy_log")" -eq 3 ] || deploy_failed=$((deploy_failed + 1))
rm -f "$deploy_log"
it_passed=${it_passed:-0} it_failed=${it_failed:-1}
rules_passed=${rules_passed:-0} rules_failed=${rules_failed:-1}
rm -f "$unit_log" "$fuzz_log" "$it_log" "$rules_log"

bench_passed=$((bench_rc == 0 ? 1 : 0)) bench_failed=$((bench_rc == 0 ? 0 : 1))
echo "unit and fuzz replay: $((unit_total - unit_failed)) passed, $unit_failed failed;" \
  "alert rules: $rules_passed passed, $rules_failed failed; deployment, package and container: $deploy_passed passed, $deploy_failed failed;" \
  "integration: $it_passed passed, $it_failed failed;" \
  "bench smoke: $bench_passed passed, $bench_failed failed"
echo "$((unit_total - unit_failed + rules_passed + deploy_passed + it_passed + bench_passed)) passed," \
  "$((unit_failed + rules_failed + deploy_failed + it_failed + bench_failed)) failed"
[ "$unit_rc" -eq 0 ] && [ "$rules_rc" -eq 0 ] && [ "$deploy_rc" -eq 0 ] && [ "$deploy_failed" -eq 0 ] && [ "$it_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
