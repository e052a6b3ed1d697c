#!/usr/bin/env bash
# The README's demo command: a throwaway realm, the collector with the grid's
# seed config, worker nodes, sample logs, and the per-host tree that results.
# Optional argument: a directory in which to keep everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
export PATH="$PATH:/usr/sbin:/sbin"
cargo build --workspace --locked --quiet
exec cargo run --locked --quiet -p gsslog-tests --bin demo -- "$@"
