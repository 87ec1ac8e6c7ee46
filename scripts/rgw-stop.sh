#!/usr/bin/env bash
# Stops the gateway started by rgw-start.sh DIR and removes DIR.
# Only the pids recorded in DIR/run/*.pid are signalled, and only while that pid still runs
# with DIR's ceph.conf on its command line (a recycled pid is left alone).
# Usage: scripts/rgw-stop.sh DIR
# Env:   KEEP=1 keeps DIR and stops the daemons gracefully (SIGTERM, about 5 s) so their
#        logs end cleanly; otherwise they get SIGKILL at once: all their data lives in
#        memory or in DIR, both thrown away, and a graceful stop only costs time (each
#        daemon takes ~2 s, and stopped in any other order than rgw, osd, mon they wait
#        for each other for minutes).
set -euo pipefail

die() { echo "rgw-stop: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: rgw-stop.sh DIR"
[ -d "$1" ] || die "$1 is not a directory"
DIR=$(cd "$1" && pwd)
[ -f "$DIR/ceph.conf" ] || die "$DIR holds no cluster started by rgw-start.sh"
KEEP=${KEEP:-0}
signal=KILL
[ "$KEEP" = 1 ] && signal=TERM
# A daemon gets this many 0.1 s polls to exit before SIGKILL.
STOP_POLLS=100

owned_by_dir() {
  local pid=$1
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/ceph.conf"
}

# A zombie (exited, not yet reaped) counts as stopped.
running() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "${state#Z}" = "$state" ]
}

stop_pid() {
  local pid=$1
  owned_by_dir "$pid" || return 0
  kill "-$signal" "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 "$STOP_POLLS"); do
    running "$pid" || return 0
    sleep 0.1
  done
  echo "rgw-stop: pid $pid still running after SIG$signal; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

# Gateway first, monitor last, so no daemon spends its exit waiting on one already gone.
shopt -s nullglob
pidfiles=()
for name in client.rgw osd.0 mon.a; do
  [ -s "$DIR/run/$name.pid" ] && pidfiles+=("$DIR/run/$name.pid")
done
for f in "$DIR"/run/*.pid; do
  case " ${pidfiles[*]} " in *" $f "*) ;; *) pidfiles+=("$f") ;; esac
done
for f in "${pidfiles[@]}"; do
  pid=$(tr -dc '0-9' <"$f")
  [ -n "$pid" ] && stop_pid "$pid"
done

[ "$KEEP" = 1 ] || rm -rf -- "$DIR"
