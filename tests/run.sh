#!/usr/bin/env bash
# The README's test command: install what tests need, then run every test.
# Ends with one summed line, "tests: N passed, N failed", over all test binaries
# and the fuzz smoke run (each fuzz target counts as one test; a fuzz build that
# fails counts as one failed test).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
export PATH="$PATH:/usr/sbin:/sbin"
log=$(mktemp)
fuzz_log=$(mktemp)
trap 'rm -f "$log" "$fuzz_log"' EXIT
status=0
# The end-to-end tests run the daemons' binaries, which `cargo test` alone
# does not build (it builds their unit-test harnesses).
cargo build --workspace --locked
# The workspace lints (every unsafe block documented, unsafe ops explicit,
# missing docs on the shared crates) are only worth their name if checked.
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
# A short run of every fuzz target (fuzz/run.sh long is the documented campaign).
fuzz_status=0
bash fuzz/run.sh smoke 2>&1 | tee "$fuzz_log" || fuzz_status=$?
[ "$fuzz_status" -eq 0 ] || status=$fuzz_status
# fuzz/run.sh prints "fuzz: TARGET: N execs, N exec/s, ok" or "..., FAILED (exit N)".
fuzz_passed=$(grep -cE '^fuzz: [^ ]+: .*, ok$' "$fuzz_log" || true)
fuzz_failed=$(grep -cE '^fuzz: [^ ]+: .*, FAILED' "$fuzz_log" || true)
if [ "$fuzz_status" -ne 0 ] && [ "$fuzz_failed" -eq 0 ]; then
  fuzz_failed=1
fi
summary=$(awk -v p="$fuzz_passed" -v f="$fuzz_failed" '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { printf "%d passed, %d failed", p, f }' "$log")
echo
echo "tests: $summary"
exit "$status"
