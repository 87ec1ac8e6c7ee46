#!/usr/bin/env bash
# Integration tests: real S3 clients against a real S3 server (a throwaway Ceph RGW), through
# the proxy, every written object checked byte for byte directly on the RGW.
#
# Usage: tests/integration/run.sh [TEST...]      (no TEST = all client tests and all suites;
#                                                 TEST = a client test's name, suite:NAME for
#                                                 one suite, or "suites" for every suite)
# After the client tests, every executable tests/integration/suites/*.sh runs in name order,
# each with its own proxies (README.md, "Suites"); their result lines count like the tests'.
# Env:   DIRECT=1       skip the proxy: the clients talk to the RGW with the RGW's own key
#                       (proves the clients and the harness, whatever state the proxy is in)
#        PROXY_BIN      the proxy executable (default build/s3-acl-proxy)
#        IT_ACL_MODE    strip (default) or audit: the proxy's [acl] mode, and so what the
#                       tests expect to find on the RGW
#        PROXY_PORT / PROXY_ADMIN_PORT (18080 / 19090)
#        RGW_PORT / MON_PORT / OSD_PORT_MIN (17480 / 46889 / 46900: not rgw-start.sh's
#                       defaults, so a development RGW left running does not collide)
#        RGW_DEBUG=20   the RGW logs every request's headers (what each client really sent)
#        KEEP_WORK=1    keep the work directory (logs, config, audit log) even on success
#        TEST_TIMEOUT   seconds one client test may take (default 240)
#        SUITE_TIMEOUT  seconds one suite may take (default 300)
#        SUITE_PORT_START / SUITE_PORT_SPAN (18100 / 100): suite number i (from 0, in name
#                       order) gets the ports SUITE_PORT_START + i * SUITE_PORT_SPAN onwards
# Last comes secrets_in_logs (lib/log_secrets.py): every audit log and proxy log written during
# the run, all suites included, must be free of secrets, signatures, credential scopes and
# tokens.
# Prints one line per test (PASS name / FAIL name: reason / SKIP name: reason /
# XFAIL name: reason), then exactly "N passed, N failed"; exits 1 if any test failed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
it=$root/tests/integration
DIRECT=${DIRECT:-0}
PROXY_BIN=${PROXY_BIN:-$root/build/s3-acl-proxy}
IT_ACL_MODE=${IT_ACL_MODE:-strip}
PROXY_PORT=${PROXY_PORT:-18080}
PROXY_ADMIN_PORT=${PROXY_ADMIN_PORT:-19090}
export RGW_PORT=${RGW_PORT:-17480} MON_PORT=${MON_PORT:-46889} OSD_PORT_MIN=${OSD_PORT_MIN:-46900}
TEST_TIMEOUT=${TEST_TIMEOUT:-240}
# A suite aims at 90 s; this only stops a hung one.
SUITE_TIMEOUT=${SUITE_TIMEOUT:-300}
# Each suite gets its own port range, so suites never collide with each other or with the
# shared proxy (PROXY_PORT, PROXY_ADMIN_PORT); 100 ports is far more than a suite needs.
SUITE_PORT_START=${SUITE_PORT_START:-18100}
SUITE_PORT_SPAN=${SUITE_PORT_SPAN:-100}
# The proxy's own key for the application: deliberately not the RGW's, so an object can only
# land if the proxy verified the client's signature and signed the request anew.
CLIENT_ACCESS_KEY=AKIAMASTODONEXAMPLE
CLIENT_SECRET_KEY=mastodonsecretmastodonsecret0000
# Poll bounds: the proxy should answer within a second; this only bounds a broken start.
PROXY_UP_POLLS=100    # x 0.1 s
PROXY_STOP_POLLS=100  # x 0.1 s; SIGTERM drains and exits 0
SMALL_BYTES=70001                        # not a multiple of any chunk or part size
BIG_BYTES=$((12 * 1024 * 1024 + 4321))   # 12 MiB and an odd tail: 3 parts of 5 MiB

case "$IT_ACL_MODE" in strip | audit) ;; *) echo "IT_ACL_MODE must be strip or audit" >&2; exit 2 ;; esac

# --- what to run (checked before anything starts)
all_tests=(mastodon_paperclip boto3_debian boto3_new awscli fog js_buffer js_stream_trailer wrong_secret)
[ "$DIRECT" = 1 ] || all_tests+=(audit_log proxy_sigterm)
# Every executable suites/*.sh, in name order (C collation, so the order is the same everywhere).
mapfile -t all_suites < <(for f in "$it"/suites/*.sh; do [ -x "$f" ] && basename "$f" .sh; done | LC_ALL=C sort)
selected=() selected_suites=()
if [ $# -eq 0 ]; then
  selected=("${all_tests[@]}")
  selected_suites=("${all_suites[@]}")
fi
for arg in "$@"; do
  case "$arg" in
    suites) selected_suites+=("${all_suites[@]}") ;;
    suite:*)
      case " ${all_suites[*]} " in
        *" ${arg#suite:} "*) selected_suites+=("${arg#suite:}") ;;
        *) echo "unknown suite: ${arg#suite:} (known: ${all_suites[*]})" >&2; exit 2 ;;
      esac
      ;;
    *)
      case " ${all_tests[*]} " in
        *" $arg "*) selected+=("$arg") ;;
        *) echo "unknown test: $arg (known: ${all_tests[*]}; suites: ${all_suites[*]/#/suite:})" >&2; exit 2 ;;
      esac
      ;;
  esac
done

t_start=$(date +%s.%N)
work=$(mktemp -d /tmp/s3p-it.XXXXXX)
mkdir -p "$work/logs" "$work/data"
rgw_dir=$work/rgw
proxy_pid=
test_pid=
passed=0 failed=0 skipped=0 xfailed=0

stop_proxy() {
  [ -n "$proxy_pid" ] || return 0
  kill -TERM "$proxy_pid" 2>/dev/null || true
  for _ in $(seq 1 "$PROXY_STOP_POLLS"); do kill -0 "$proxy_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$proxy_pid" 2>/dev/null || true
  wait "$proxy_pid" 2>/dev/null || true
  proxy_pid=
}
cleanup() {
  local rc=$? keep=0
  [ "$rc" -eq 0 ] && [ "${KEEP_WORK:-0}" != 1 ] || keep=1
  if [ -n "$test_pid" ]; then
    kill -TERM "$test_pid" 2>/dev/null || true
    wait "$test_pid" 2>/dev/null || true
  fi
  stop_proxy
  # Kept: a graceful stop so the RGW's logs end cleanly; otherwise an instant one.
  if [ -f "$rgw_dir/ceph.conf" ]; then
    KEEP=$keep "$root/scripts/rgw-stop.sh" "$rgw_dir" || true
  fi
  if [ "$keep" -eq 1 ]; then
    echo "# logs kept in $work" >&2
  else
    rm -rf -- "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
report() {  # report STATUS NAME [REASON]
  local status=$1 name=$2 reason=${3:-}
  case "$status" in
    PASS) passed=$((passed + 1)); echo "PASS $name" ;;
    FAIL) failed=$((failed + 1)); echo "FAIL $name: $reason" ;;
    SKIP) skipped=$((skipped + 1)); echo "SKIP $name: $reason" ;;
    XFAIL) xfailed=$((xfailed + 1)); echo "XFAIL $name: $reason" ;;
  esac
}
finish() {
  echo "# $skipped skipped, $xfailed expected failures; $(elapsed "$t_start") s in all"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# --- the RGW
t_rgw=$(date +%s.%N)
if ! "$root/scripts/rgw-start.sh" "$rgw_dir" >"$work/rgw.env" 2>"$work/logs/rgw-start.log"; then
  report FAIL rgw_start "$(tail -1 "$work/logs/rgw-start.log")"
  finish || exit 1
fi
# shellcheck disable=SC1091
source "$work/rgw.env"
echo "# rgw up at $RGW_ENDPOINT in $(elapsed "$t_rgw") s"

# --- test data and buckets, straight on the RGW
head -c "$SMALL_BYTES" /dev/urandom >"$work/data/small.bin"
head -c "$BIG_BYTES" /dev/urandom >"$work/data/big.bin"
bucket_of() { printf 'it-%s' "${1//_/-}"; }
buckets=()
for name in "${selected[@]}"; do buckets+=("$(bucket_of "$name")"); done
if [ "${#buckets[@]}" -gt 0 ]; then
  /usr/bin/python3 "$it/lib/rgw_check.py" mkbucket "${buckets[@]}" >"$work/logs/mkbucket.log" 2>&1 ||
    { report FAIL create_buckets "$(tail -1 "$work/logs/mkbucket.log")"; finish || exit 1; }
fi

# --- the proxy, unless DIRECT=1 (or only suites run: each starts its own)
if [ "${#selected[@]}" -eq 0 ]; then
  echo "# no client tests selected: no shared proxy"
elif [ "$DIRECT" = 1 ]; then
  export S3_ENDPOINT=$RGW_ENDPOINT S3_ACCESS_KEY=$RGW_ACCESS_KEY S3_SECRET_KEY=$RGW_SECRET_KEY
  export EXPECT_OBJECT_ACL=public-read EXPECT_ACL_PUT=success EXPECT_STREAM_UPLOAD=rejected
  echo "# DIRECT=1: clients talk to the RGW with its own key"
else
  cat >"$work/proxy.toml" <<EOF
[server]
listen = "127.0.0.1:$PROXY_PORT"
admin_listen = "127.0.0.1:$PROXY_ADMIN_PORT"

[upstream]
endpoint = "$RGW_ENDPOINT"
region = "us-east-1"
access_key_id = "$RGW_ACCESS_KEY"
secret_access_key = "$RGW_SECRET_KEY"

[[clients]]
access_key_id = "$CLIENT_ACCESS_KEY"
secret_access_key = "$CLIENT_SECRET_KEY"

[acl]
mode = "$IT_ACL_MODE"

[audit]
path = "$work/audit.jsonl"
EOF
  export S3_ENDPOINT=http://127.0.0.1:$PROXY_PORT S3_ACCESS_KEY=$CLIENT_ACCESS_KEY S3_SECRET_KEY=$CLIENT_SECRET_KEY
  export EXPECT_STREAM_UPLOAD=success
  if [ "$IT_ACL_MODE" = strip ]; then
    # Stripped ACL headers leave objects private; PUT ?acl is answered 501 by default.
    export EXPECT_OBJECT_ACL=private EXPECT_ACL_PUT=notimplemented
  else
    export EXPECT_OBJECT_ACL=public-read EXPECT_ACL_PUT=success
  fi
  proxy_starts=0
  # start_proxy: starts the proxy and waits until it answers; on failure sets proxy_problem.
  # (Not run in $(...): proxy_pid must be set in this shell, and the proxy be its child.)
  start_proxy() {
    local up=0 rc
    proxy_problem=
    [ -x "$PROXY_BIN" ] || { proxy_problem="no proxy executable at $PROXY_BIN (build it, or DIRECT=1)"; return 1; }
    proxy_starts=$((proxy_starts + 1))
    "$PROXY_BIN" --config "$work/proxy.toml" >>"$work/logs/proxy.log" 2>&1 &
    proxy_pid=$!
    for _ in $(seq 1 "$PROXY_UP_POLLS"); do
      kill -0 "$proxy_pid" 2>/dev/null || break
      # A bare TCP connect on the S3 port: a request there would be an audited auth failure.
      if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PROXY_ADMIN_PORT/healthz" &&
        (exec 3<>"/dev/tcp/127.0.0.1/$PROXY_PORT") 2>/dev/null; then
        up=1
        break
      fi
      sleep 0.1
    done
    [ "$up" -eq 1 ] && return 0
    if kill -0 "$proxy_pid" 2>/dev/null; then
      stop_proxy
      proxy_problem="proxy not answering on ports $PROXY_PORT/$PROXY_ADMIN_PORT"
    else
      wait "$proxy_pid" && rc=0 || rc=$?
      proxy_pid=
      proxy_problem="proxy exited with $rc: $(tail -1 "$work/logs/proxy.log")"
    fi
    return 1
  }
  start_proxy || true
  if [ -n "$proxy_problem" ]; then
    report FAIL proxy_start "$proxy_problem"
    finish || exit 1
  fi
  echo "# proxy up at $S3_ENDPOINT ($IT_ACL_MODE mode)"
fi

# Clients must see only what this run gives them: no profile, config or keys from $HOME.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export IT_DATA=$work/data RUN_ID=$$ IT_ACL_MODE NODE_NO_WARNINGS=1
export RGW_ENDPOINT RGW_ACCESS_KEY RGW_SECRET_KEY

# A newer python3 with its own boto3 (the image's pyenv one here), else the test is skipped.
newer_python() {
  local py=${BOTO3_NEW_PYTHON:-$(command -v python3 || true)} info
  [ -n "$py" ] || return 1
  info=$("$py" -c 'import os, sys, boto3; print(os.path.realpath(sys.executable), boto3.__version__)' 2>/dev/null) ||
    return 1
  case "$info" in /usr/bin/*) return 1 ;; esac
  printf '%s' "$py"
}

js_dir=$it/clients/js
js_ready() {
  [ -d "$js_dir/node_modules/@aws-sdk/client-s3" ] && [ -d "$js_dir/node_modules/@aws-sdk/s3-presigned-post" ] && return 0
  command -v npm >/dev/null || return 1
  (cd "$js_dir" && npm ci --no-audit --no-fund) >"$work/logs/npm-ci.log" 2>&1
}

# run_client NAME CMD...: runs one client test with its own bucket and scratch directory.
run_client() {
  local name=$1 log=$work/logs/$1.log rc
  shift
  mkdir -p "$work/tmp/$name"
  # In the background and waited for, so that SIGTERM/SIGINT reach the trap at once (bash
  # runs traps only between foreground commands); timeout passes the signal on to the test.
  S3_BUCKET=$(bucket_of "$name") IT_TMP=$work/tmp/$name \
    timeout --kill-after=10 "$TEST_TIMEOUT" "$@" >"$log" 2>&1 </dev/null &
  test_pid=$!
  wait "$test_pid" && rc=0 || rc=$?
  test_pid=
  local last
  last=$(grep -v '^[[:space:]]*$' "$log" | tail -1 || true)
  case "$rc" in
    0) report PASS "$name" ;;
    77) report SKIP "$name" "$last" ;;
    78) report XFAIL "$name" "${last#expected failure: }" ;;
    124 | 137) report FAIL "$name" "timed out after $TEST_TIMEOUT s (see $log)" ;;
    *)
      report FAIL "$name" "${last:-exit $rc}"
      grep '^not ok' "$log" | head -5 | sed 's/^/    /' || true
      ;;
  esac
}

# A proxy that died during a test is a failure of its own, reported after that test; it is
# started again so that the next client's result stays its own.
check_proxy_alive() {
  local after=$1 rc
  [ "$DIRECT" = 1 ] && return 0
  [ -n "$proxy_pid" ] && kill -0 "$proxy_pid" 2>/dev/null && return 0
  if [ -n "$proxy_pid" ]; then
    wait "$proxy_pid" && rc=0 || rc=$?
    proxy_pid=
    report FAIL proxy_alive "the proxy exited with $rc during $after: $(tail -1 "$work/logs/proxy.log")"
  fi
  start_proxy || echo "# could not restart the proxy: $proxy_problem"
}

for name in "${selected[@]}"; do
  case "$name" in
    mastodon_paperclip) run_client "$name" ruby "$it/clients/mastodon_paperclip.rb" ;;
    boto3_debian) run_client "$name" /usr/bin/python3 "$it/clients/boto3_client.py" ;;
    boto3_new)
      if py=$(newer_python); then
        run_client "$name" "$py" "$it/clients/boto3_client.py"
      else
        report SKIP "$name" "no python3 with its own boto3 besides Debian's on PATH (set BOTO3_NEW_PYTHON)"
      fi
      ;;
    awscli) run_client "$name" "$it/clients/awscli.sh" ;;
    fog) run_client "$name" ruby "$it/clients/fog.rb" ;;
    js_buffer | js_stream_trailer)
      if js_ready; then
        run_client "$name" node "$js_dir/s3_client.mjs" "$([ "$name" = js_buffer ] && echo buffer || echo stream)"
      else
        report FAIL "$name" "npm ci failed in $js_dir (see $work/logs/npm-ci.log)"
      fi
      ;;
    wrong_secret) run_client "$name" /usr/bin/python3 "$it/clients/wrong_secret.py" ;;
    audit_log)
      run_client "$name" /usr/bin/python3 "$it/lib/audit_check.py" "$work/audit.jsonl" \
        "$CLIENT_SECRET_KEY" "$RGW_SECRET_KEY"
      ;;
    proxy_sigterm)
      check_proxy_alive "the tests before"
      if [ -z "$proxy_pid" ]; then
        report FAIL "$name" "the proxy is no longer running"
        continue
      fi
      kill -TERM "$proxy_pid" 2>/dev/null || true
      rc=
      for _ in $(seq 1 "$PROXY_STOP_POLLS"); do
        if ! kill -0 "$proxy_pid" 2>/dev/null; then wait "$proxy_pid" && rc=0 || rc=$?; break; fi
        sleep 0.1
      done
      if [ -z "$rc" ]; then
        report FAIL "$name" "still running $((PROXY_STOP_POLLS / 10)) s after SIGTERM"
      elif [ "$rc" -ne 0 ]; then
        proxy_pid=
        report FAIL "$name" "exited with $rc after SIGTERM"
      else
        proxy_pid=
        report PASS "$name"
      fi
      ;;
  esac
  [ "$name" = proxy_sigterm ] || check_proxy_alive "$name"
done

# --- the suites: each starts its own proxies (and fakes) against the same RGW and prints
# PASS/FAIL/SKIP lines, counted here as NAME/check (README.md, "Suites").
export PROXY_BIN RGW_UID=${RGW_UID:-tester} # rgw-start.sh's test owner is the user "tester"
suite_index() {
  local i
  for i in "${!all_suites[@]}"; do [ "${all_suites[$i]}" = "$1" ] && echo "$i" && return 0; done
  return 1
}
run_suite() {
  local name=$1 log=$work/logs/suite-$1.log rc index results=0 line rest check
  index=$(suite_index "$name")
  mkdir -p "$work/suites/$name"
  SUITE_WORK=$work/suites/$name SUITE_PORT_BASE=$((SUITE_PORT_START + index * SUITE_PORT_SPAN)) \
    timeout --kill-after=10 "$SUITE_TIMEOUT" "$it/suites/$name.sh" >"$log" 2>&1 </dev/null &
  test_pid=$!
  wait "$test_pid" && rc=0 || rc=$?
  test_pid=
  while IFS= read -r line; do
    case "$line" in
      "PASS "*) report PASS "$name/${line#PASS }" ;;
      "FAIL "* | "SKIP "*)
        rest=${line#???? }
        check=${rest%%: *}
        [ "$check" != "$rest" ] || rest="(no reason given)"
        report "${line%% *}" "$name/$check" "${rest#*: }"
        ;;
      "# "*) echo "# $name: ${line#\# }"; continue ;;
      *) continue ;;
    esac
    results=$((results + 1))
  done <"$log"
  case "$rc" in
    0) [ "$results" -gt 0 ] || report FAIL "suite:$name" "printed no PASS/FAIL/SKIP line (see $log)" ;;
    124 | 137) report FAIL "suite:$name" "timed out after $SUITE_TIMEOUT s (see $log)" ;;
    *) report FAIL "suite:$name" "exited with $rc (see $log)" ;;
  esac
}
for name in "${selected_suites[@]}"; do
  if [ "$DIRECT" = 1 ]; then
    report SKIP "suite:$name" "DIRECT=1: the suites test the proxy"
    continue
  fi
  t_suite=$(date +%s.%N)
  run_suite "$name"
  echo "# suite $name: $(elapsed "$t_suite") s"
done

# --- the log shipping (deploy/alloy/config.alloy) and the LogQL rules and dashboard over it
# reference only fields and values found, with their types, in the audit lines of this run
# (tests/deploy/check_log_pipeline.py). Needs the suites that write denied, failed, refused
# and canary lines.
log_pipeline_check() {
  local need=" acl refusals observability operations " have=" ${selected_suites[*]:-} " s out logs
  for s in $need; do
    if [ "$DIRECT" = 1 ] || [[ "$have" != *" $s "* ]]; then
      report SKIP log_pipeline_fields "needs the suites$need"
      return
    fi
  done
  mapfile -t logs < <(find "$work" -name '*audit.jsonl' -type f)
  if out=$(PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 "$root/tests/deploy/check_log_pipeline.py" \
      --alloy "$root/deploy/alloy/config.alloy" --loki-rules "$root/conf/loki/s3-acl-proxy-rules.yml" \
      --dashboard "$root/conf/grafana/s3-acl-proxy-audit.json" "${logs[@]}" 2>&1); then
    echo "$out" | sed 's/^PASS /# /'
    report PASS log_pipeline_fields
  else
    report FAIL log_pipeline_fields "$(echo "$out" | grep -v '^PASS' | tr '\n' ' ')"
  fi
}
log_pipeline_check

# --- last: nothing any proxy wrote during the whole run (audit logs and proxy logs of the
# shared proxy and of every suite) holds a secret, a signature, a credential scope or a
# token. The scanner first proves on planted lines that it catches each kind.
secrets_check() {
  local scanner=$it/lib/log_secrets.py out
  if [ "$DIRECT" = 1 ]; then
    report SKIP secrets_in_logs "DIRECT=1: no proxy ran"
    return
  fi
  if ! out=$(/usr/bin/python3 "$scanner" --self-test 2>&1); then
    report FAIL secrets_in_logs "the scanner's self-test failed: $(echo "$out" | head -3 | tr '\n' ' ')"
    return
  fi
  echo "# $out"
  # The secrets run.sh exports (RGW_SECRET_KEY, RGW_OTHER_SECRET_KEY, S3_SECRET_KEY) and every
  # *.toml's keys are read by the scanner itself; nothing secret goes on a command line.
  if out=$(/usr/bin/python3 "$scanner" "$work" 2>&1); then
    echo "# secrets_in_logs: $out"
    report PASS secrets_in_logs
  else
    report FAIL secrets_in_logs "$out"
  fi
}
secrets_check

finish
