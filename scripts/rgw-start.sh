#!/usr/bin/env bash
# Starts a throwaway single-node Ceph RADOS Gateway on loopback, as a real S3 server to put
# behind the proxy: one monitor, one in-memory OSD, no manager, no cephx, pools of size 1,
# the beast frontend on 127.0.0.1:$RGW_PORT. Nothing survives rgw-stop.sh.
#
# Usage: scripts/rgw-start.sh DIR     DIR must be missing or empty (a second start into the
#                                     same DIR is refused, so two clusters never share state)
# Env:   RGW_PORT (7480), MON_PORT (46789), OSD_PORT_MIN (46800; 50 ports from there),
#        RGW_ACCESS_KEY / RGW_SECRET_KEY           the "tester" user (owner of test buckets)
#        RGW_OTHER_ACCESS_KEY / RGW_OTHER_SECRET_KEY  the "other" user (a second principal
#                                                     for bucket policies)
#        RGW_DEBUG (0)  rgw debug level; 20 logs every request's headers to DIR/log/client.rgw.log
# Prints `export ...` lines on stdout once the gateway answers and both users exist; progress
# and timings go to stderr. On failure the daemons it started are stopped and DIR is kept
# for its logs.
# Stop:  scripts/rgw-stop.sh DIR
set -euo pipefail
# Either variable would silently redirect or extend every ceph tool's configuration.
unset CEPH_CONF CEPH_ARGS

die() { echo "rgw-start: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: rgw-start.sh DIR"
dir_arg=$1
if [ -e "$dir_arg" ]; then
  [ -d "$dir_arg" ] || die "$dir_arg exists and is not a directory"
  [ -z "$(ls -A "$dir_arg")" ] || die "$dir_arg is not empty (a cluster may already live there)"
fi
mkdir -p "$dir_arg"
DIR=$(cd "$dir_arg" && pwd)

RGW_PORT=${RGW_PORT:-7480}
MON_PORT=${MON_PORT:-46789}
OSD_PORT_MIN=${OSD_PORT_MIN:-46800}
# Ceph daemons bind any free port in this range; 50 is far more than one OSD needs.
OSD_PORT_SPAN=50
AK=${RGW_ACCESS_KEY:-RGWTESTERKEY00000001}
SK=${RGW_SECRET_KEY:-rgwtestersecretrgwtestersecret0000000001}
OTHER_AK=${RGW_OTHER_ACCESS_KEY:-RGWOTHERKEY000000001}
OTHER_SK=${RGW_OTHER_SECRET_KEY:-rgwothersecretrgwothersecretrgwother0001}
RGW_DEBUG=${RGW_DEBUG:-0}
# Poll bounds: the whole start takes ~1.5 s on an idle machine, 4-5 s beside a parallel
# build on 2 cores; these only decide how long a broken start may hang before it is reported.
OSD_UP_TRIES=120   # x 0.25 s
RGW_UP_TRIES=240   # x 0.25 s

for cmd in monmaptool ceph-mon ceph-osd ceph radosgw radosgw-admin curl; do
  command -v "$cmd" >/dev/null || die "$cmd not found (run scripts/install-deps.sh)"
done

port_in_use() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
for p in "$RGW_PORT" "$MON_PORT"; do
  ! port_in_use "$p" || die "port $p on this machine is already in use"
done

CONF=$DIR/ceph.conf
LOG=$DIR/log
mkdir -p "$DIR/run" "$LOG" "$DIR/mon.a" "$DIR/osd.0" "$DIR/rgw"

# On any failure, stop what was started but keep DIR so its logs can be read.
started=0
on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ "$started" -eq 1 ]; then
    echo "rgw-start: failed (exit $rc); last lines of $LOG/setup.err:" >&2
    tail -5 "$LOG/setup.err" >&2 2>/dev/null || true
    KEEP=1 "$(dirname "${BASH_SOURCE[0]}")/rgw-stop.sh" "$DIR" >&2 || true
  fi
}
trap on_exit EXIT

fsid=$(cat /proc/sys/kernel/random/uuid)
cat >"$CONF" <<EOF
[global]
fsid = $fsid
# msgr v1 only, on loopback: a v2-only monmap plus v1 clients is the classic hang.
mon host = v1:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr2 = false
ms bind ipv6 = false
ms bind port min = $OSD_PORT_MIN
ms bind port max = $((OSD_PORT_MIN + OSD_PORT_SPAN))
auth cluster required = none
auth service required = none
auth client required = none
run dir = $DIR/run
pid file = $DIR/run/\$name.pid
admin socket = $DIR/run/\$name.asok
log file = $LOG/\$name.log
log to stderr = false
err to stderr = true
crash dir = $DIR/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
debug ms = 0
# The monitor batches map changes for 1 s by default; rgw creates a dozen pools on its
# first start, one map change each, so this tuning turns ~15 s into ~1 s.
paxos propose interval = 0.05
paxos min wait = 0.01
[mon]
mon data = $DIR/mon.\$id
mon cluster log file = $LOG/cluster.log
[osd]
osd data = $DIR/osd.\$id
osd objectstore = memstore
# 2 GiB of RAM at most, allocated as objects arrive; the tests write a few tens of MiB.
memstore device bytes = 2147483648
# memstore rejects rgw's long object names unless these are raised.
osd max object name len = 460
osd max object namespace len = 64
osd op num shards = 1
osd op num threads per shard = 2
[client.rgw]
rgw data = $DIR/rgw
# tcp_nodelay: without it every small response waits for the delayed ACK (about 40 ms).
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw thread pool size = 32
rgw dns name = localhost
rgw enable usage log = false
rgw init timeout = 120
debug rgw = $RGW_DEBUG
EOF

now() { date +%s.%N; }
# A Ceph 16 daemon or tool first opens a bootstrap session to fetch config, then opens its
# real session from a monmap built from the addresses learnt there, which carries no fsid.
# With auth none that session is "authenticated" before the monitor's monmap arrives, so a
# command sent at once goes out with an all-zero fsid and the monitor refuses it ("wrong
# fsid", EPERM). Under load (a parallel build on this 2-core machine) that hit one start in
# three. Daemons skip the bootstrap session with --no-mon-config (all config is in this
# file); the ceph CLI and radosgw-admin cannot, so their calls are retried.
CLI_TRIES=5
retry() {
  local i
  for i in $(seq 1 "$CLI_TRIES"); do
    "$@" 2>>"$LOG/setup.err" && return 0
    [ "$i" -lt "$CLI_TRIES" ] && echo "rgw-start: '$*' failed, retrying" >>"$LOG/setup.err"
    sleep 0.2
  done
  return 1
}
ceph_cmd() { retry ceph -c "$CONF" --connect-timeout 20 "$@"; }

t0=$(now)
# Monitor. ceph-mon daemonizes and records its pid in run/mon.a.pid.
monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$MON_PORT]" "$DIR/monmap" >/dev/null
ceph-mon -c "$CONF" -i a --mkfs --monmap "$DIR/monmap" 2>>"$LOG/setup.err"
started=1
ceph-mon -c "$CONF" --no-mon-config -i a 2>>"$LOG/setup.err"
ceph_cmd mon dump >/dev/null
t_mon=$(now)

# One in-memory OSD. "osd new" with the same uuid is idempotent, so retrying it is safe.
osd_uuid=$(cat /proc/sys/kernel/random/uuid)
osd_id=$(ceph_cmd osd new "$osd_uuid")
[ "$osd_id" = 0 ] || die "expected osd id 0, got '$osd_id'"
ceph-osd -c "$CONF" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" 2>>"$LOG/setup.err"
ceph-osd -c "$CONF" --no-mon-config -i "$osd_id" 2>>"$LOG/setup.err"
osd_up=0
for _ in $(seq 1 "$OSD_UP_TRIES"); do
  if ceph -c "$CONF" --connect-timeout 20 osd dump 2>/dev/null | grep -q "^osd\.$osd_id up"; then
    osd_up=1
    break
  fi
  sleep 0.25
done
[ "$osd_up" -eq 1 ] || { tail -20 "$LOG/osd.$osd_id.log" >&2 || true; die "osd.$osd_id did not come up"; }
t_osd=$(now)

# The gateway creates its pools on first start; it answers HTTP only once they exist.
radosgw -c "$CONF" --no-mon-config -n client.rgw 2>>"$LOG/setup.err"
rgw_up=0
for _ in $(seq 1 "$RGW_UP_TRIES"); do
  if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$RGW_PORT/"; then rgw_up=1; break; fi
  sleep 0.25
done
[ "$rgw_up" -eq 1 ] || { tail -20 "$LOG/client.rgw.log" >&2 || true; die "radosgw not answering on 127.0.0.1:$RGW_PORT"; }

# A retried "user create" may find the user made by the attempt that reported failure.
create_user() {
  local uid=$1 name=$2 ak=$3 sk=$4 i
  for i in $(seq 1 "$CLI_TRIES"); do
    radosgw-admin -c "$CONF" user create --uid="$uid" --display-name="$name" \
      --access-key="$ak" --secret="$sk" >/dev/null 2>>"$LOG/setup.err" && return 0
    radosgw-admin -c "$CONF" user info --uid="$uid" 2>>"$LOG/setup.err" | grep -qF "\"$ak\"" && return 0
    sleep 0.2
  done
  die "could not create rgw user $uid"
}
create_user tester "Test owner" "$AK" "$SK"
create_user other "Second principal" "$OTHER_AK" "$OTHER_SK"
t_end=$(now)

awk -v a="$t0" -v b="$t_mon" -v c="$t_osd" -v d="$t_end" \
  'BEGIN { printf "rgw-start: ready in %.2f s (mon %.2f, osd %.2f, rgw+users %.2f)\n", d-a, b-a, c-b, d-c }' >&2
for kv in "RGW_DIR=$DIR" "RGW_CONF=$CONF" "RGW_ENDPOINT=http://127.0.0.1:$RGW_PORT" \
  "RGW_ACCESS_KEY=$AK" "RGW_SECRET_KEY=$SK" "RGW_OTHER_UID=other" \
  "RGW_OTHER_ACCESS_KEY=$OTHER_AK" "RGW_OTHER_SECRET_KEY=$OTHER_SK"; do
  printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
done
