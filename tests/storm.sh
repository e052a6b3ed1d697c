#!/usr/bin/env bash
# The storm benchmark: a fleet of shippers, one process each with its own
# Kerberos handshake, against our collector stopped for a while and restarted.
# Arguments: [nodes, default 700] [seconds down, default 30] [ours|rsyslog, default ours].
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
export PATH="$PATH:/usr/sbin:/sbin"
cargo build --release --workspace --locked --quiet
exec target/release/storm "$@"
