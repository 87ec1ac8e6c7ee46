#!/usr/bin/env bash
# A long soak: the integration suite "soak" (tests/integration/suites/soak.sh) for SECONDS
# (default 600) against a throwaway RGW, with the same checks as in CI (which runs it for
# 60 s as part of tests/integration/run.sh): 200 concurrent clients mixing uploads in every
# payload mode, multipart, downloads and deliberate failures; afterwards every acknowledged
# object is compared on the RGW, every request must have one audit line, and the proxy's
# RSS and descriptors must be back near their baseline. Prints the figures and
# PASS/FAIL lines; exits 1 if a check failed.
#
# Usage: scripts/soak.sh [SECONDS]
# Env:   SOAK_CLIENTS (200), SOAK_RSS_SLACK_MIB (16), SOAK_FD_SLACK (8), and run.sh's
#        (PROXY_BIN, RGW_PORT, SUITE_PORT_START, KEEP_WORK=1 ...)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-600}
case "$seconds" in '' | *[!0-9]*) echo "usage: scripts/soak.sh [SECONDS]" >&2; exit 2 ;; esac
# The load, two pool drains of ~17 s each, verification and audit reading on top.
SOAK_SECONDS=$seconds SUITE_TIMEOUT=${SUITE_TIMEOUT:-$((seconds + 300))} \
  exec "$root/tests/integration/run.sh" suite:soak
