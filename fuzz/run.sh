#!/usr/bin/env bash
# Runs the fuzz targets (libFuzzer through cargo fuzz, on the stable toolchain).
#
#   bash fuzz/run.sh smoke [TARGET...]        a few seconds per target (part of tests/run.sh)
#   bash fuzz/run.sh long [RUNS|SECONDSs] [TARGET...]
#                                             a campaign: RUNS executions per target (default
#                                             10000000), or SECONDS with an 's' suffix (600s)
#
# Each target starts from its committed seeds (fuzz/seeds/TARGET). The smoke run
# works in a temporary corpus; the long run keeps its corpus in fuzz/corpus/TARGET
# (git-ignored) so that a later campaign continues where it stopped. A crash
# input is saved under fuzz/artifacts/TARGET/ and printed; replay it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -s none TARGET fuzz/artifacts/TARGET/crash-...
# For every target one line "fuzz: TARGET: N execs, N exec/s, ok|FAILED"; exits 1
# if any target failed.
#
# FUZZ_SANITIZER (default none) picks cargo fuzz's sanitizer: the code under
# test has no unsafe of its own (the FFI in gsswire/src/gss.rs is not reached),
# and overflow checks and debug assertions are on either way; `address` is
# slower but also checks dependencies' unsafe code.
set -euo pipefail
cd "$(dirname "$0")"

# Every [[bin]] of fuzz/Cargo.toml, so that a new target cannot be left out of
# the runs; and every file in fuzz_targets/ must be one of them.
mapfile -t all_targets < <(awk '/^\[\[bin\]\]/ { bin = 1; next } /^\[/ { bin = 0 }
  bin && $1 == "name" { gsub(/"/, "", $3); print $3 }' Cargo.toml)
[ ${#all_targets[@]} -gt 0 ] || { echo "fuzz: no [[bin]] targets found in fuzz/Cargo.toml" >&2; exit 1; }
for file in fuzz_targets/*.rs; do
  grep -qx "path = \"$file\"" Cargo.toml || { echo "fuzz: $file is not a [[bin]] of fuzz/Cargo.toml: it would never run" >&2; exit 1; }
done
mode=${1:-smoke}
shift || true
case "$mode" in
  smoke)
    limits=(-runs=50000 -max_total_time=10)
    wall=120
    ;;
  long)
    budget=${1:-10000000}
    [ $# -gt 0 ] && shift
    case "$budget" in
      *s) limits=(-max_total_time="${budget%s}"); wall=$((${budget%s} + 120)) ;;
      *) limits=(-runs="$budget"); wall=$((24 * 3600)) ;;
    esac
    ;;
  *)
    echo "usage: $0 smoke [TARGET...] | long [RUNS|SECONDSs] [TARGET...]" >&2
    exit 2
    ;;
esac
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-none}
# The queue and config targets write files: tmpfs keeps that from being the bottleneck.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  export TMPDIR=/dev/shm
fi

build_log=$(mktemp)
# cargo fuzz has no --locked: check first that fuzz/Cargo.lock needs no change
# (cargo tree resolves for this machine only, so it needs nothing beyond what
# the build downloads), as the main workspace's builds do with --locked.
if ! cargo tree --locked >/dev/null 2>"$build_log"; then
  cat "$build_log"
  echo "fuzz: fuzz/Cargo.lock does not match fuzz/Cargo.toml (update it with cargo and commit it)"
  exit 1
fi
if ! cargo fuzz build -s "$sanitizer" >"$build_log" 2>&1; then
  cat "$build_log"
  echo "fuzz: building the targets failed"
  exit 1
fi
rm -f "$build_log"

failed=0
for t in "${targets[@]}"; do
  if [ "$mode" = long ]; then
    corpus="corpus/$t"
    mkdir -p "$corpus"
  else
    corpus=$(mktemp -d)
  fi
  mkdir -p "artifacts/$t"
  log=$(mktemp)
  status=0
  # -timeout: an input that takes 10 s is a hang and fails the run.
  # libFuzzer can hang in its own timeout handler; the outer timeout ends it.
  timeout -s KILL "$wall" cargo fuzz run -s "$sanitizer" "$t" "$corpus" "seeds/$t" -- \
    "${limits[@]}" -timeout=10 -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1 || status=$?
  execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
  rate=$(awk '/stat::average_exec_per_sec/ { print $2 }' "$log")
  if [ "$status" -eq 0 ]; then
    echo "fuzz: $t: ${execs:-?} execs, ${rate:-?} exec/s, ok"
  else
    failed=$((failed + 1))
    echo "fuzz: $t: ${execs:-?} execs, ${rate:-?} exec/s, FAILED (exit $status)"
    grep -E "panicked at|^(SUMMARY|==[0-9]+== ERROR)|Test unit written to|ALARM|Timeout|out-of-memory" "$log" | head -12 | sed 's/^/fuzz:   /' || true
    # The panic message is the line after "panicked at".
    grep -A1 "panicked at" "$log" | tail -1 | cut -c1-400 | sed 's/^/fuzz:   /' || true
  fi
  rm -f "$log"
  [ "$mode" = long ] || rm -rf "$corpus"
done
echo "fuzz: ${#targets[@]} targets run, $failed failed"
[ "$failed" -eq 0 ]
