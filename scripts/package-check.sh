#!/usr/bin/env bash
# Builds the Debian package with CPack, installs it on this machine with dpkg -i, checks the
# installed systemd unit (systemd-analyze verify, and its security exposure score offline),
# runs the installed binary with the packaged config through --check -- with the secrets
# where the unit's LoadCredential= lines make systemd put them -- then purges the package and
# checks that nothing it installed is left.
#
# Needs root, dpkg-dev, help2man and systemd (scripts/install-deps.sh test) and a configured
# build/ (scripts/build.sh; BUILD_DIR names another, NO_BUILD=1 packages it as it is).
# Refuses to run where s3-acl-proxy is already installed.
# Prints one PASS/FAIL line per check, then "N passed, N failed"; exits 1 on any failure.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

pkg=s3-acl-proxy
unit=/lib/systemd/system/s3-acl-proxy.service
config=/etc/s3-acl-proxy/s3-acl-proxy.toml
cred_dir=/etc/s3-acl-proxy/credentials
# systemd places each LoadCredential= in /run/credentials/<unit name>/<id>.
run_cred_dir=/run/credentials/s3-acl-proxy.service
# systemd-analyze security rates 0 (locked down) to 10; up to 2.0 is its "OK" band.
max_exposure=2.0

passed=0 failed=0
out=$(mktemp /tmp/s3p-package-check.XXXXXX)
pkgdir=$(mktemp -d /tmp/s3p-package.XXXXXX)
installed=0
cleanup() {
  if [ "$installed" = 1 ]; then dpkg --purge "$pkg" >/dev/null 2>&1; rm -rf "$cred_dir"; rmdir /etc/s3-acl-proxy 2>/dev/null; fi
  rm -rf "$out" "$pkgdir"
}
trap cleanup EXIT
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; [ -s "$out" ] && sed 's/^/    /' "$out" | head -40; failed=$((failed + 1)); }
# check NAME COMMAND...: PASS when the command exits 0.
check() { local name=$1; shift; if "$@" >"$out" 2>&1; then pass "$name"; else fail "$name"; fi; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'; then
  : >"$out"; fail "package_check: $pkg is already installed here; not touching it"; finish
fi
for tool in cpack dpkg-deb dpkg-shlibdeps help2man systemd-analyze unshare; do
  command -v "$tool" >/dev/null || { : >"$out"; fail "prerequisites: $tool missing (scripts/install-deps.sh test)"; finish; }
done
build_dir=${BUILD_DIR:-build}
[ -f "$build_dir/CMakeCache.txt" ] || bash scripts/build.sh >/dev/null

# 1. The package and what it holds.
if (cd "$build_dir" && { [ "${NO_BUILD:-0}" = 1 ] || { cmake --build . -j2 --target s3-acl-proxy && cmake --build . --target man; }; } &&
    cpack -G DEB -B "$pkgdir") >"$out" 2>&1 &&
   deb=$(ls "$pkgdir"/s3-acl-proxy_*.deb 2>/dev/null) && [ -n "$deb" ]; then
  pass "deb_built ($(basename "$deb"), $(($(stat -c %s "$deb") / 1024)) KiB)"
else
  fail "deb_built"; finish
fi
dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|' >"$pkgdir/contents"
missing=""
for f in /usr/bin/s3-acl-proxy "$unit" "$config" /etc/logrotate.d/s3-acl-proxy /usr/share/man/man1/s3-acl-proxy.1 \
         /usr/share/s3-acl-proxy/prometheus/s3-acl-proxy-alerts.yml /usr/share/s3-acl-proxy/loki/s3-acl-proxy-rules.yml \
         /usr/share/s3-acl-proxy/grafana/s3-acl-proxy-dashboard.json /usr/share/s3-acl-proxy/alloy/config.alloy \
         /usr/share/doc/s3-acl-proxy/examples/s3-acl-proxy.toml; do
  grep -qx -- "$f" "$pkgdir/contents" || missing="$missing $f"
done
echo "missing:$missing" >"$out"
[ -z "$missing" ] && pass "deb_contents" || fail "deb_contents"
dpkg-deb -e "$deb" "$pkgdir/control"
if diff <(sort "$pkgdir/control/conffiles") <(printf '%s\n' "$config" /etc/logrotate.d/s3-acl-proxy | sort) >"$out"; then
  pass "deb_conffiles (the config and the logrotate file)"
else
  fail "deb_conffiles"
fi

# 2. Installed.
if dpkg -i "$deb" >"$out" 2>&1; then installed=1; pass "dpkg_install"; else fail "dpkg_install"; finish; fi
check "installed_binary_runs (--version)" /usr/bin/s3-acl-proxy --version
check "man_page_installed (man -w)" man -w s3-acl-proxy
check "systemd_analyze_verify ($unit)" systemd-analyze verify "$unit"
if systemd-analyze security --offline=yes "$unit" >"$out" 2>&1; then :; fi
score=$(sed -nE 's/.*Overall exposure level for s3-acl-proxy.service: ([0-9.]+).*/\1/p' "$out")
if [ -n "$score" ] && awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s <= m) }'; then
  : >"$out"; pass "systemd_security_exposure $score (at most $max_exposure)"
else
  fail "systemd_security_exposure ${score:-unknown} (at most $max_exposure)"
fi

# 3. The packaged config through --check, with the secrets where systemd would put them: the
# operator's files named by the unit's LoadCredential= lines, copied into a private /run
# (a mount namespace of this one command, as systemd gives the service its own).
mkdir -p -m 0700 "$cred_dir"
creds=$(sed -nE 's/^LoadCredential=([^:]+):(.*)$/\1 \2/p' "$unit")
while read -r id path; do
  [ -n "$id" ] && printf 'test-secret-%s\n' "$id" >"$path" && chmod 0600 "$path"
done <<<"$creds"
# shellcheck disable=SC2016
if [ -n "$creds" ] && unshare -m --propagation private sh -c '
  set -e
  mount -t tmpfs -o mode=0755 tmpfs /run
  mkdir -m 0700 -p "$1"
  echo "$2" | while read -r id path; do cp "$path" "$1/$id"; done
  exec /usr/bin/s3-acl-proxy --config "$3" --check' sh "$run_cred_dir" "$creds" "$config" >"$out" 2>&1 &&
   grep -q "AKIAMASTODONEXAMPLE" "$out" && ! grep -q "test-secret-" "$out"; then
  pass "packaged_config_check (--check with the unit's $(echo "$creds" | wc -l) credentials; no secret printed)"
else
  fail "packaged_config_check"
fi
# The same check without the credentials must fail, naming the file: the config really reads them.
if unshare -m --propagation private sh -c 'mount -t tmpfs tmpfs /run && exec /usr/bin/s3-acl-proxy --config "$1" --check' \
     sh "$config" >"$out" 2>&1; then
  fail "packaged_config_needs_credentials (--check passed without them)"
elif grep -q "$run_cred_dir" "$out"; then
  : >"$out"; pass "packaged_config_needs_credentials (exit 2 naming $run_cred_dir)"
else
  fail "packaged_config_needs_credentials (no mention of $run_cred_dir)"
fi

# 4. The unit's SystemCallFilter= against what the installed binary really calls: it runs under
# strace on loopback (admin endpoints, a refused upload, the canary against a closed upstream
# port, SIGHUP, SIGTERM); every system call made must be in @system-service and none in the
# groups the unit removes. (systemd itself is not PID 1 here, so the filter cannot be applied.)
if command -v strace >/dev/null; then
  port=${PACKAGE_CHECK_PORT:-28480}
  sc=$pkgdir/syscalls
  mkdir -p "$sc"
  echo secret-a >"$sc/up"; echo secret-b >"$sc/cl"
  cat >"$sc/p.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
admin_listen = "127.0.0.1:$((port + 1))"
[upstream]
endpoint = "http://127.0.0.1:$((port + 2))"
region = "us-east-1"
access_key_id = "AKIAIOSFODNN7EXAMPLE"
secret_access_key_file = "up"
[[clients]]
access_key_id = "AKIAMASTODONEXAMPLE"
secret_access_key_file = "cl"
[canary]
bucket = "media"
interval = "1s"
[audit]
path = "audit.jsonl"
TOML
  # strace sets PTRACE_O_EXITKILL: killed after 30 s, it takes the proxy with it.
  timeout -s KILL 30 strace -f -qq -o "$sc/trace" /usr/bin/s3-acl-proxy --config "$sc/p.toml" >"$sc/log" 2>&1 &
  tracer=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$((port + 1))/healthz" >/dev/null && break; sleep 0.1; done
  sleep 1.5  # a canary run
  for path in /healthz /metrics /readyz; do curl -s -o /dev/null "http://127.0.0.1:$((port + 1))$path"; done
  curl -s -o /dev/null -X PUT --data-binary @"$unit" "http://127.0.0.1:$port/media/k"
  proxy=$(pgrep -P "$(pgrep -P "$tracer" -x strace | head -n1)" -x s3-acl-proxy | head -n1)
  [ -n "$proxy" ] && kill -HUP "$proxy" && sleep 0.5 && kill -TERM "$proxy"
  wait "$tracer"
  rc=$?
  # The groups, expanded: systemd-analyze lists nested groups by name.
  expand() {
    local todo=" $* " seen=" " g m
    while [ -n "${todo// /}" ]; do
      read -r g todo <<<"$todo"; todo=" $todo "
      [[ "$seen" == *" $g "* ]] && continue
      seen="$seen$g "
      for m in $(systemd-analyze syscall-filter "$g" | awk 'NR > 1 && /^    [@a-z]/ { print $1 }'); do
        case $m in @*) todo="$todo$m " ;; *) echo "$m" ;; esac
      done
    done | sort -u
  }
  sed -nE 's/^[0-9]+ +([a-z_0-9]+)\(.*/\1/p' "$sc/trace" | sort -u >"$sc/used"
  removed=$(sed -nE 's/^SystemCallFilter=~(.*)$/\1/p' "$unit")
  outside=$(comm -23 "$sc/used" <(expand @system-service) | tr '\n' ' ')
  # shellcheck disable=SC2086
  inside_removed=$(comm -12 "$sc/used" <(expand $removed) | tr '\n' ' ')
  {
    echo "exit $rc; $(wc -l <"$sc/used") system calls; outside @system-service: ${outside:-none}; in $removed: ${inside_removed:-none}"
    grep -c '"event":"canary"' "$sc/audit.jsonl" | sed 's/^/canary lines: /'
  } >"$out" 2>&1
  if [ "$rc" -eq 0 ] && [ -s "$sc/used" ] && [ -z "$outside" ] && [ -z "$inside_removed" ] &&
     grep -q '"event":"canary"' "$sc/audit.jsonl" && grep -q '"event":"auth_failed"' "$sc/audit.jsonl"; then
    pass "syscalls_within_unit_filter ($(wc -l <"$sc/used") distinct calls, all in @system-service, none in $removed)"
  else
    fail "syscalls_within_unit_filter"
  fi
else
  : >"$out"; fail "syscalls_within_unit_filter: strace missing (scripts/install-deps.sh test)"
fi

# 5. Purged: nothing the package installed is left (the operator's credentials are theirs).
rm -rf "$cred_dir"
if dpkg --purge "$pkg" >"$out" 2>&1; then installed=0; pass "dpkg_purge"; else fail "dpkg_purge"; fi
left=$(grep -v '/$' "$pkgdir/contents" | while read -r f; do [ -e "$f" ] && echo "$f"; done)
for d in /etc/s3-acl-proxy /usr/share/s3-acl-proxy /usr/share/doc/s3-acl-proxy; do [ -e "$d" ] && left="$left $d"; done
dpkg-query -W "$pkg" >/dev/null 2>&1 && left="$left (dpkg still knows $pkg)"
echo "left behind: $left" >"$out"
[ -z "$left" ] && pass "clean_removal" || fail "clean_removal"
finish
