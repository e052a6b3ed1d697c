#!/usr/bin/env bash
# The benchmark: our shipper and collector beside Debian's rsyslog, measured in
# one run on this machine. Arguments: [messages per run, default 1000000] [JSON path].
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
export PATH="$PATH:/usr/sbin:/sbin"
cargo build --release --workspace --locked --quiet
exec target/release/bench "$@"
