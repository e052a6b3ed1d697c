#!/usr/bin/env bash
# The README's test command: install what tests need, then run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
export PATH="$PATH:/usr/sbin:/sbin"
cargo test --workspace --locked "$@"
