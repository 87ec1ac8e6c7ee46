#!/usr/bin/env bash
# Installs everything the build, the quick start and the tests need on Debian 12.
# Usage: scripts/install-deps.sh [build|test|bench]   (default: test = build, tests and the
#        benchmark's smoke run; bench = build, the RGW and the benchmark's load tools)
set -euo pipefail
what=${1:-test}
export DEBIAN_FRONTEND=noninteractive

build_pkgs=(build-essential cmake pkg-config git
  libboost1.81-dev libssl-dev libfmt-dev libtomlplusplus-dev libgtest-dev zlib1g-dev
  libmimalloc-dev  # the allocator the proxy links (include/s3proxy/heap.hpp)
  help2man)  # the man page, generated from --help
# The throwaway Ceph RGW the quick start and the tests put behind the proxy.
rgw_pkgs=(radosgw ceph-mon ceph-osd ceph-common curl procps iproute2)
# Real S3 clients and peers the integration tests drive.
test_pkgs=(ruby ruby-aws-sdk-s3 ruby-fog-aws python3 python3-boto3 awscli
  prometheus python3-yaml openssl procps slowhttptest
  dpkg-dev systemd man-db util-linux strace)  # scripts/package-check.sh: DEB tools, systemd-analyze, man -w, unshare, strace
# scripts/container-check.sh: podman builds and runs docker/Dockerfile from a debootstrapped
# Debian 12 (runc: crun fails on these hosts' cgroups), docker-compose drives docker/compose.yaml
# against `podman system service`; promtool (prometheus) checks its Prometheus config.
test_pkgs+=(podman runc debootstrap docker-compose)
# The machine image may ship its own Node.js (which conflicts with Debian's npm).
command -v npm >/dev/null || test_pkgs+=(nodejs npm)
# The benchmark (bench/run.sh): the nginx baseline and origin, the load generator, the signer's
# python, and valgrind for the instruction counts per request.
bench_pkgs=(nginx-light wrk python3 curl procps util-linux valgrind)

missing() { for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || echo "$p"; done; }

pkgs=("${build_pkgs[@]}" "${rgw_pkgs[@]}")
[ "$what" = test ] && pkgs+=("${test_pkgs[@]}" "${bench_pkgs[@]}")
[ "$what" = bench ] && pkgs+=("${bench_pkgs[@]}")
todo=$(missing "${pkgs[@]}")
if [ -n "$todo" ]; then
  apt-get update -qq || true
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $todo >/dev/null
fi

# scripts/check-deploy.sh: the Kubernetes API schemas (npm kubernetes-models, pinned by
# tests/deploy/package-lock.json).
if [ "$what" = test ] && [ ! -d "$(dirname "$0")/../tests/deploy/node_modules/kubernetes-models" ]; then
  (cd "$(dirname "$0")/../tests/deploy" && npm ci --no-audit --no-fund >/dev/null) ||
    echo "npm ci in tests/deploy failed: scripts/check-deploy.sh will report the schema check as failed" >&2
fi

# The integration tests' JavaScript clients (npm @aws-sdk/client-s3, lib-storage and
# s3-presigned-post, pinned by tests/integration/clients/js/package-lock.json); run.sh and the
# post_policy suite also install them when missing.
if [ "$what" = test ] && [ ! -d "$(dirname "$0")/../tests/integration/clients/js/node_modules/@aws-sdk/s3-presigned-post" ]; then
  (cd "$(dirname "$0")/../tests/integration/clients/js" && npm ci --no-audit --no-fund >/dev/null) ||
    echo "npm ci in tests/integration/clients/js failed: the JavaScript client tests will fail" >&2
fi
