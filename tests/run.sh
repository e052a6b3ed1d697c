#!/usr/bin/env bash
# The README's test command: install what tests need, then run every test.
# Ends with one summed line, "tests: N passed, N failed", over all test binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
export PATH="$PATH:/usr/sbin:/sbin"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# The end-to-end tests run the daemons' binaries, which `cargo test` alone
# does not build (it builds their unit-test harnesses).
cargo build --workspace --locked
# The workspace lints (every unsafe block documented, unsafe ops explicit,
# missing docs on the shared crates) are only worth their name if checked.
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
# A short run of every fuzz target (fuzz/run.sh long is the documented campaign).
bash fuzz/run.sh smoke || status=$?
summary=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { printf "%d passed, %d failed", p, f }' "$log")
echo
echo "tests: $summary"
exit "$status"
