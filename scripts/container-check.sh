#!/usr/bin/env bash
# Builds docker/Dockerfile with podman and runs the image for real, then checks the Compose
# stack:
# - base image: Debian 12 debootstrapped from the host's Debian mirror (no registry is
#   reachable), imported as debian:12; the image build compiles the proxy in its first stage;
# - the image: runs as a non-root user, has a HEALTHCHECK, holds no shell or package manager,
#   stays under MAX_IMAGE_MB;
# - the container, on loopback in front of a throwaway Ceph RGW, read-only and without
#   capabilities: boto3 uploads through it with x-amz-acl (a plain and a multipart upload),
#   every object is read back directly on the RGW and compared; the audit line is on the
#   container's stdout; /healthz, /readyz and /metrics answer; `podman healthcheck run`
#   passes; SIGTERM (podman stop) ends it with exit code 0;
# - docker/compose.yaml: `docker-compose config` parses it, the pieces fit
#   (tests/container/check_compose.py: files, Mastodon's S3 settings, secrets, audit volume,
#   Prometheus and Grafana wiring), `promtool check config` accepts Prometheus's files as the
#   container sees them, and the proxy service comes up through docker-compose (talking to
#   `podman system service`) with its compose config, secret and audit volume -- the storage
#   being the RGW on the host over host networking (MinIO's image cannot be pulled here) --
#   takes an upload and stops with exit code 0.
# Each checker also rejects a broken copy, so a checker that stopped finding anything fails.
#
# Needs root, podman, runc, debootstrap, docker-compose, promtool, python3-boto3, python3-yaml
# and the Ceph RGW packages (scripts/install-deps.sh test). Takes 5-7 minutes, most of it the
# compile inside the image.
# Env: RGW_PORT, MON_PORT, OSD_PORT_MIN (the RGW; see scripts/rgw-start.sh),
#      CONTAINER_PORT (28580; it and the next three ports: the proxy's S3 and admin ports,
#      for the plain run and the compose run),
#      CONTAINER_BASE_CACHE (a tarball of the debootstrapped Debian 12; made when missing,
#      reused when present), KEEP_IMAGE_STORE=1 keeps the podman store for a faster re-run.
# Prints one PASS/FAIL line per check, then "N passed, N failed"; exits 1 on any failure.
set -uo pipefail
export PYTHONDONTWRITEBYTECODE=1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

# The image holds the binary, its libraries and the CA bundle: ~13 MB today.
MAX_IMAGE_MB=40
image=localhost/s3-acl-proxy:check
# docker/compose.yaml names the image it builds this way.
compose_image=s3-acl-proxy:local
port=${CONTAINER_PORT:-28580}
admin_port=$((port + 1)) compose_port=$((port + 2)) compose_admin_port=$((port + 3))
export RGW_PORT=${RGW_PORT:-7480}
client_id=mastodon client_secret=container-check-client-secret-0001

passed=0 failed=0
t_start=$(date +%s)
ct_store=${CT_STORE:-/var/tmp/s3-acl-proxy-container-check}
tmp=$(mktemp -d /tmp/s3p-container-check.XXXXXX)
out=$tmp/out
rgw_dir=$tmp/rgw
service_pid="" container=""
cleanup() {
  [ -n "$container" ] && podman rm -f "$container" >/dev/null 2>&1
  [ -n "${DOCKER_HOST:-}" ] && [ -f "$tmp/compose/compose.yaml" ] &&
    docker-compose -p s3pcheck -f "$tmp/compose/compose.yaml" down -v >/dev/null 2>&1
  [ -n "$service_pid" ] && kill "$service_pid" 2>/dev/null && wait "$service_pid" 2>/dev/null
  [ -f "$rgw_dir/ceph.conf" ] && bash scripts/rgw-stop.sh "$rgw_dir" >/dev/null 2>&1
  [ "${KEEP_IMAGE_STORE:-0}" = 1 ] || remove_store
  rm -rf "$tmp"
}
# The private podman store: its overlay mounts first, then the directory.
remove_store() {
  [ -d "$ct_store" ] || return 0
  awk -v d="$ct_store/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r umount -l 2>/dev/null
  rm -rf "$ct_store"
}
trap cleanup EXIT
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; [ -s "$out" ] && sed 's/^/    /' "$out" | tail -30; failed=$((failed + 1)); }
check() { local name=$1; shift; if "$@" >"$out" 2>&1; then pass "$name"; else fail "$name"; fi; }
finish() {
  echo "container check took $(($(date +%s) - t_start)) s"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]; exit $?
}

for tool in podman runc debootstrap docker-compose promtool python3 curl; do
  command -v "$tool" >/dev/null || { : >"$out"; fail "prerequisites: $tool missing (scripts/install-deps.sh test)"; finish; }
done

# 1. The podman set-up and the base image.
[ "${KEEP_IMAGE_STORE:-0}" = 1 ] || remove_store
export CT_ROOT=$ct_store
# shellcheck source=tests/container/podman-env.sh
. tests/container/podman-env.sh
mkdir -p "$CT_ROOT"
ct_write_config
base_cache=${CONTAINER_BASE_CACHE:-$CT_ROOT/debian12-rootfs.tar}
t0=$(date +%s)
if ct_import_base_image "$base_cache" >"$out" 2>&1; then
  pass "base_image (Debian 12 debootstrapped from $(ct_debian_mirror), $(($(date +%s) - t0)) s)"
else
  fail "base_image"; finish
fi

# 2. The image.
t0=$(date +%s)
if podman build --format docker --pull=never --isolation chroot --network host -f docker/Dockerfile -t "$image" . >"$tmp/build.log" 2>&1; then
  : >"$out"; pass "image_built (podman build, compiling in the build stage: $(($(date +%s) - t0)) s)"
else
  cp "$tmp/build.log" "$out"; fail "image_built"; finish
fi
podman tag "$image" "$compose_image"
size=$(podman image inspect --format '{{.Size}}' "$image")
size_mb=$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1000000 }')
echo "image size: $size_mb MB ($size bytes)"
echo "image $size_mb MB" >"$out"
awk -v s="$size" -v m="$MAX_IMAGE_MB" 'BEGIN { exit !(s <= m * 1000000) }' &&
  pass "image_small ($size_mb MB, at most $MAX_IMAGE_MB MB)" || fail "image_small"

user=$(podman image inspect --format '{{.Config.User}}' "$image")
echo "user: '$user'" >"$out"
case ${user%%:*} in ''|0|root) fail "image_runs_as_non_root" ;; *) pass "image_runs_as_non_root (user $user)" ;; esac
podman image inspect --format '{{json .HealthCheck}}' "$image" >"$out" 2>&1
grep -q '"healthcheck"' "$out" && grep -q '/etc/s3-acl-proxy/s3-acl-proxy.toml' "$out" &&
  pass "image_has_healthcheck (s3-acl-proxy healthcheck: GET /healthz)" || fail "image_has_healthcheck"
# What the runtime stage holds: the binary, libraries, the CA bundle, passwd/group; no shell,
# no package manager.
podman create --name s3p-check-export "$image" >/dev/null 2>&1 &&
  podman export s3p-check-export | tar -t >"$tmp/files" 2>/dev/null
podman rm -f s3p-check-export >/dev/null 2>&1
others=$(grep -vE '^(\./)?((usr/)?bin/s3-acl-proxy|(usr/)?lib(64|/x86_64-linux-gnu)?/[^/]+\.so(\.[0-9]+)*|etc/ssl/certs/ca-certificates\.crt|usr/lib/ssl/cert\.pem|etc/(passwd|group|hosts|hostname|resolv\.conf)|dev/.*|proc/|sys/|run/.*|etc/s3-acl-proxy/|var/log/s3-acl-proxy/|[^/]+/|.*/)$' "$tmp/files")
{ echo "files: $(wc -l <"$tmp/files")"; echo "unexpected: ${others:-none}"; } >"$out"
if grep -qE '^(\./)?usr/bin/s3-acl-proxy$' "$tmp/files" && grep -qE 'ca-certificates\.crt$' "$tmp/files" &&
   ! grep -qE '(^|/)bin/(sh|bash|dash)$|/apt$|/dpkg$' "$tmp/files" && [ -z "$others" ]; then
  pass "runtime_holds_binary_libraries_certificates_only ($(grep -c '\.so' "$tmp/files") libraries; no shell, no apt)"
else
  fail "runtime_holds_binary_libraries_certificates_only"
fi

# 3. The container in front of the RGW.
rgw_env=$(bash scripts/rgw-start.sh "$rgw_dir" 2>"$out") && eval "$rgw_env" || { fail "rgw_start"; finish; }
conf=$tmp/run
mkdir -p "$conf/secrets"
uid=${user%%:*}
printf '%s\n' "$RGW_SECRET_KEY" >"$conf/secrets/storage_secret"
chown "$uid" "$conf/secrets/storage_secret" && chmod 0400 "$conf/secrets/storage_secret"
write_config() {  # PORT ADMIN_PORT AUDIT_PATH
  cat <<TOML
[server]
listen = "127.0.0.1:$1"
admin_listen = "127.0.0.1:$2"
[upstream]
endpoint = "$RGW_ENDPOINT"
region = "us-east-1"
access_key_id = "$RGW_ACCESS_KEY"
secret_access_key_file = "/run/secrets/storage_secret"
[[clients]]
access_key_id = "$client_id"
secret_access_key_env = "APP_SECRET_ACCESS_KEY"
[acl]
mode = "strip"
[canary]
bucket = "media"
interval = "2s"
[audit]
path = "$3"
TOML
}
write_config "$port" "$admin_port" - >"$conf/s3-acl-proxy.toml"
chmod 0644 "$conf/s3-acl-proxy.toml"
export RGW_ACCESS_KEY RGW_SECRET_KEY CLIENT_ACCESS_KEY_ID=$client_id CLIENT_SECRET_ACCESS_KEY=$client_secret
# The bucket, on the RGW directly (the canary writes into it from the start).
python3 - >"$out" 2>&1 <<'PY' || fail "rgw_bucket"
import os, boto3
boto3.client("s3", endpoint_url=os.environ["RGW_ENDPOINT"], region_name="us-east-1",
             aws_access_key_id=os.environ["RGW_ACCESS_KEY"],
             aws_secret_access_key=os.environ["RGW_SECRET_KEY"]).create_bucket(Bucket="media")
PY
container=s3p-check-$$
if podman run -d --name "$container" --pull=never --network host --read-only --cap-drop=all \
     --security-opt no-new-privileges -e APP_SECRET_ACCESS_KEY="$client_secret" \
     -v "$conf/s3-acl-proxy.toml:/etc/s3-acl-proxy/s3-acl-proxy.toml:ro" \
     -v "$conf/secrets:/run/secrets:ro" "$image" >"$out" 2>&1; then
  pass "container_started (--read-only, --cap-drop=all, uid $uid)"
else
  fail "container_started"; finish
fi
admin=http://127.0.0.1:$admin_port
for _ in $(seq 100); do curl -sf "$admin/healthz" >/dev/null && break; sleep 0.1; done
check "healthz (200)" curl -sf "$admin/healthz"
for _ in $(seq 100); do curl -sf "$admin/readyz" >/dev/null && break; sleep 0.1; done
check "readyz (200: the RGW answered, the canary passed)" curl -sf "$admin/readyz"
check "upload_through_container (boto3 PutObject and multipart with x-amz-acl: public-read, read back byte for byte on the RGW)" \
  python3 tests/container/roundtrip.py --proxy "http://127.0.0.1:$port" --storage "$RGW_ENDPOINT" \
    --bucket media --prefix container/
podman logs "$container" >"$tmp/stdout" 2>"$tmp/stderr"
python3 - "$tmp/stdout" >"$out" 2>&1 <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
puts = [l for l in lines if l.get("event") == "request" and l.get("op") == "PutObject"
        and l.get("key") == "container/small.png" and l.get("status") == 200]
assert puts, f"no PutObject line for container/small.png among {len(lines)} lines"
acl = puts[0]["acl"]
assert acl["action"] == "stripped" and acl["headers"].get("x-amz-acl") == "public-read", acl
done = [l for l in lines if l.get("op") == "CompleteMultipartUpload" and l.get("status") == 200]
assert done, "no CompleteMultipartUpload line"
print(f"{len(lines)} audit lines")
PY
[ $? -eq 0 ] && pass "audit_lines_on_container_stdout (PutObject with the ACL stripped, CompleteMultipartUpload)" ||
  fail "audit_lines_on_container_stdout"
curl -sf "$admin/metrics" >"$out" 2>&1
grep -qE '^s3_acl_proxy_requests_total\{op="PutObject",status="2xx"\} [1-9]' "$out" &&
  pass "metrics (s3_acl_proxy_requests_total counts the uploads)" || fail "metrics"
check "healthcheck_in_image (podman healthcheck run)" podman healthcheck run "$container"
# The healthcheck must be able to fail: the same command against a port nothing serves.
write_config "$port" "$((admin_port + 100))" - >"$conf/bad.toml"; chmod 0644 "$conf/bad.toml"
if podman exec -i "$container" /usr/bin/s3-acl-proxy healthcheck --config /dev/stdin <"$conf/bad.toml" >"$out" 2>&1; then
  fail "healthcheck_fails_without_healthz (passed)"
else
  pass "healthcheck_fails_without_healthz"
fi
podman stop -t 30 "$container" >"$out" 2>&1
code=$(podman inspect --format '{{.State.ExitCode}}' "$container")
podman logs "$container" >"$tmp/stdout" 2>/dev/null
echo "exit code $code; last line: $(tail -n1 "$tmp/stdout")" >"$out"
[ "$code" = 0 ] && grep -q '"event":"stopped"' "$tmp/stdout" &&
  pass "stop_exits_0 (SIGTERM: drained, \"stopped\" audit line, exit 0)" || fail "stop_exits_0"
podman rm -f "$container" >/dev/null 2>&1; container=""

# 4. The Compose stack.
compose_env=(LOCAL_DOMAIN=example.com SECRET_KEY_BASE=x OTP_SECRET=x VAPID_PRIVATE_KEY=x VAPID_PUBLIC_KEY=x
  ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY=x ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT=x
  ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY=x DB_PASS=x S3_ALIAS_HOST=files.example.com
  "APP_SECRET_ACCESS_KEY=$client_secret" MINIO_ROOT_PASSWORD=x GRAFANA_ADMIN_PASSWORD=x)
if env "${compose_env[@]}" docker-compose -f docker/compose.yaml config >"$tmp/resolved.yaml" 2>"$out"; then
  pass "compose_config_parses (docker-compose $(docker-compose version --short 2>/dev/null))"
else
  fail "compose_config_parses"
fi
mkdir -p "$tmp/compose"
python3 tests/container/check_compose.py "$tmp/resolved.yaml" "$root" --prometheus-dir "$tmp/prometheus" \
  --rgw-variant "$tmp/compose/compose.yaml" "$tmp/compose" >"$out" 2>&1
compose_rc=$?
cat "$out"
passed=$((passed + $(grep -c '^PASS' "$out"))) failed=$((failed + $(grep -c '^FAIL' "$out")))
[ "$compose_rc" -eq 0 ] || grep -q '^FAIL' "$out" || { echo "FAIL check_compose exited $compose_rc"; failed=$((failed + 1)); }
# sidekiq (which uploads remote media) sending straight to MinIO, bypassing the proxy.
awk '/^  sidekiq:/ { s = 1 } s && /environment: \*mastodon-env/ { print "    environment:\n      <<: *mastodon-env\n      S3_ENDPOINT: http://minio:9000"; s = 0; next } { print }' \
  docker/compose.yaml >"$tmp/broken-compose.yaml"
env "${compose_env[@]}" docker-compose --project-directory docker -f "$tmp/broken-compose.yaml" config >"$tmp/broken.yaml" 2>"$out"
if python3 tests/container/check_compose.py "$tmp/broken.yaml" "$root" >"$out" 2>&1; then
  fail "compose check rejects sidekiq bypassing the proxy (accepted)"
else
  pass "compose check rejects sidekiq bypassing the proxy"
fi
check "promtool_check_config (the container's /etc/prometheus: config and alert rules)" \
  sh -c 'promtool check config "$1" && ! promtool check config "$1" 2>&1 | grep -q "0 rule files found"' sh "$tmp/prometheus/prometheus.yml"

# The proxy service through docker-compose against podman's Docker API: its definition from
# docker/compose.yaml as resolved, with host networking to the RGW on loopback and the
# check's config and secret (check_compose.py --rgw-variant).
write_config "$compose_port" "$compose_admin_port" /var/log/s3-acl-proxy/audit.jsonl >"$tmp/compose/s3-acl-proxy.toml"
chmod 0644 "$tmp/compose/s3-acl-proxy.toml"
cp -p "$conf/secrets/storage_secret" "$tmp/compose/storage_secret"
export DOCKER_HOST=unix://$tmp/podman.sock
podman system service --time=0 "$DOCKER_HOST" >"$tmp/service.log" 2>&1 &
service_pid=$!
for _ in $(seq 100); do [ -S "$tmp/podman.sock" ] && break; sleep 0.1; done
compose() { docker-compose -p s3pcheck -f "$tmp/compose/compose.yaml" "$@"; }
if compose up -d --no-build --no-deps s3-acl-proxy >"$out" 2>&1; then
  pass "compose_up (the proxy service through docker-compose and podman system service)"
else
  fail "compose_up"
fi
cadmin=http://127.0.0.1:$compose_admin_port
for _ in $(seq 150); do curl -sf "$cadmin/readyz" >/dev/null && break; sleep 0.1; done
check "compose_proxy_ready (/readyz 200)" curl -sf "$cadmin/readyz"
check "compose_upload (boto3 through the compose service, read back on the RGW)" \
  python3 tests/container/roundtrip.py --proxy "http://127.0.0.1:$compose_port" --storage "$RGW_ENDPOINT" \
    --bucket media --prefix compose/
cid=$(compose ps -q s3-acl-proxy 2>/dev/null)
compose stop -t 30 s3-acl-proxy >"$out" 2>&1
code=$(podman inspect --format '{{.State.ExitCode}}' "$cid" 2>/dev/null)
vol=$(podman volume inspect --format '{{.Mountpoint}}' s3pcheck_audit-log 2>/dev/null)
{ echo "exit code ${code:-unknown}; audit volume ${vol:-missing}"; tail -n2 "$vol/audit.jsonl" 2>/dev/null; } >"$out"
[ "$code" = 0 ] && grep -q '"key":"compose/small.png"' "$vol/audit.jsonl" 2>/dev/null &&
  grep -q '"event":"stopped"' "$vol/audit.jsonl" &&
  pass "compose_stop_exits_0 (audit lines on the volume Alloy reads)" || fail "compose_stop_exits_0"
compose down -v >/dev/null 2>&1
kill "$service_pid" 2>/dev/null; wait "$service_pid" 2>/dev/null; service_pid=""
unset DOCKER_HOST
finish
