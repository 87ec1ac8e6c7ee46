#!/usr/bin/env bash
# Builds the libFuzzer targets (the `fuzz` CMake preset: clang, ASan + UBSan, the library
# instrumented for coverage) and runs each for a fixed time or number of executions, in a
# scratch corpus seeded from tests/fuzz/corpus/NAME.
#
# Usage: scripts/fuzz.sh [--time SECONDS] [--runs N] [--merge MAX] [--no-build] [TARGET...]
#   --time SECONDS  per target (default 60); with --runs, whichever comes first
#   --runs N        executions per target (libFuzzer -runs), no time limit unless --time is given
#   --merge MAX     afterwards merge (libFuzzer -merge=1) the inputs that add coverage over the
#                   seeds, at most MAX of them (the smallest), into tests/fuzz/corpus/NAME
#   --no-build      use the executables already in the build directory
#   TARGET          sigv4, chunked, s3_request, forward, config, policy_lint, s3_error
#                   (default: every tests/fuzz/*_fuzz.cpp)
# Env:   FUZZ_BUILD_DIR (build-fuzz, the preset's), FUZZ_WORK (a fresh /tmp/s3p-fuzz.XXXXXX,
#        kept), FUZZ_BUILD_JOBS (2), FUZZ_TIMEOUT (60: seconds one input may take before it
#        counts as a hang), FUZZ_MAX_LEN (libFuzzer's default: the largest seed or 4096),
#        ASAN_OPTIONS (quarantine_size_mb=16, see below)
#
# Prints one line per target:
#   NAME: N execs in S s (E exec/s), +K new corpus entries, C crashes
# Every crash, leak, timeout or out-of-memory input is copied into tests/fuzz/corpus/NAME/
# under libFuzzer's name (crash-<sha1>, leak-<sha1>, ...), so the ordinary build's replay
# tests (ctest -L fuzz) replay it from then on; a timeout input that runs alone without one
# (the machine stalled) is reported but not kept. Exits 1 if any target found something.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${FUZZ_BUILD_JOBS:-2}
# Longest time one input may run (wall clock). The slowest harness needs milliseconds, but a
# niced fuzzer on a busy machine can stall for seconds (seen: 12 s inside ASan's madvise), so
# the limit is generous, and a timeout input is replayed alone before it counts (below).
per_input_timeout=${FUZZ_TIMEOUT:-60}
time_limit= runs= merge_max= build_first=1 targets=()

die() { echo "fuzz.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --time) time_limit=${2:?}; shift 2 ;;
    --runs) runs=${2:?}; shift 2 ;;
    --merge) merge_max=${2:?}; shift 2 ;;
    --no-build) build_first=0; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ -n "$time_limit" ] || [ -n "$runs" ] || time_limit=60
if [ "${#targets[@]}" -eq 0 ]; then
  for src in "$root"/tests/fuzz/*_fuzz.cpp; do targets+=("$(basename "$src" _fuzz.cpp)"); done
fi
for t in "${targets[@]}"; do
  [ -f "$root/tests/fuzz/${t}_fuzz.cpp" ] || die "no harness tests/fuzz/${t}_fuzz.cpp"
  [ -d "$root/tests/fuzz/corpus/$t" ] || die "no seed corpus tests/fuzz/corpus/$t"
done

if [ "$build_first" = 1 ]; then
  command -v clang++ >/dev/null || die "clang++ not found (apt-get install clang)"
  (cd "$root" && cmake --preset fuzz >/dev/null)
  cmake --build "$build" -j"$jobs" --target "${targets[@]/%/_fuzz}" >/dev/null
fi

work=${FUZZ_WORK:-$(mktemp -d /tmp/s3p-fuzz.XXXXXX)}
mkdir -p "$work"
echo "# fuzz work directory: $work"

# Dictionaries: the request-level harnesses share the SigV4 tokens; forward also gets the
# aws-chunked ones (libFuzzer takes one -dict file).
dict_for() {
  local d=$root/tests/fuzz/dict
  case "$1" in
    sigv4 | s3_request) echo "$d/request.dict" ;;
    chunked) echo "$d/chunked.dict" ;;
    forward) cat "$d/request.dict" "$d/chunked.dict" >"$work/forward.dict"; echo "$work/forward.dict" ;;
  esac
}

# ASan's default 256 MiB quarantine of freed memory makes these small-input harnesses half as
# fast and five times as big (measured: s3_request 15000 -> 30000 exec/s, 300 -> 77 MiB);
# 16 MiB still holds thousands of executions' worth of freed blocks for use-after-free checks.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=16}

stat_of() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }

found=0
for t in "${targets[@]}"; do
  bin=$build/${t}_fuzz
  [ -x "$bin" ] || die "$bin missing (build without --no-build)"
  seeds=$root/tests/fuzz/corpus/$t
  corpus=$work/$t/corpus artifacts=$work/$t/artifacts/ log=$work/$t/fuzz.log
  mkdir -p "$corpus" "$artifacts"
  args=(-print_final_stats=1 -timeout="$per_input_timeout" -artifact_prefix="$artifacts")
  [ -z "$time_limit" ] || args+=(-max_total_time="$time_limit")
  [ -z "$runs" ] || args+=(-runs="$runs")
  [ -z "${FUZZ_MAX_LEN:-}" ] || args+=(-max_len="$FUZZ_MAX_LEN")
  dict=$(dict_for "$t")
  [ -z "$dict" ] || args+=(-dict="$dict")
  start=$(date +%s.%N)
  # New inputs go to the scratch corpus (the first directory); the seeds are only read.
  "$bin" "${args[@]}" "$corpus" "$seeds" >"$log" 2>&1 && rc=0 || rc=$?
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
  execs=$(stat_of number_of_executed_units "$log")
  rate=$(stat_of average_exec_per_sec "$log")
  added=$(stat_of new_units_added "$log")
  crashes=0 stalls=0
  for f in "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-*; do
    [ -e "$f" ] || continue
    # A timeout that does not happen again when the input runs alone was the machine, not the code.
    if [[ $(basename "$f") == timeout-* ]] && "$bin" -timeout="$per_input_timeout" "$f" >"$f.replay.log" 2>&1; then
      stalls=$((stalls + 1))
      echo "#   $t: $(basename "$f") replays alone without a timeout: a stall of the machine, not kept"
      continue
    fi
    crashes=$((crashes + 1))
    cp "$f" "$seeds/"
    echo "#   $t: $(basename "$f") kept in tests/fuzz/corpus/$t/ (log: $log)"
  done
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ] && [ "$stalls" -eq 0 ]; then
    echo "#   $t: libFuzzer exited with $rc without an artifact: $(grep -m1 -E 'ERROR|error' "$log" || tail -n 1 "$log")"
    crashes=1
  fi
  [ "$crashes" -eq 0 ] || found=1
  echo "$t: ${execs:-0} execs in $secs s (${rate:-0} exec/s), +${added:-0} new corpus entries, $crashes crashes" \
    "$([ "$stalls" -eq 0 ] || echo "(stopped early by a stall that did not reproduce)")"

  if [ -n "$merge_max" ] && [ "$crashes" -eq 0 ]; then
    # A merge into a copy of the seeds keeps exactly the inputs that add coverage over them.
    merged=$work/$t/merged
    mkdir -p "$merged"
    cp "$seeds"/* "$merged/"
    "$bin" -merge=1 -timeout="$per_input_timeout" "$merged" "$corpus" >"$work/$t/merge.log" 2>&1 ||
      { echo "#   $t: merge failed (see $work/$t/merge.log)"; continue; }
    mapfile -t fresh < <(cd "$merged" && for f in *; do [ -e "$seeds/$f" ] || echo "$f"; done)
    kept=0
    if [ "${#fresh[@]}" -gt 0 ]; then
      while read -r _ f; do
        [ "$kept" -lt "$merge_max" ] || break
        cp "$merged/$f" "$seeds/$f"
        kept=$((kept + 1))
      done < <(cd "$merged" && stat -c '%s %n' "${fresh[@]}" | sort -n)
    fi
    echo "#   $t: ${#fresh[@]} inputs add coverage over the seeds; $kept merged into tests/fuzz/corpus/$t/"
  fi
done
exit "$found"
