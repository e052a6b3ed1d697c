#!/usr/bin/env bash
# Installs, idempotently, every Debian package that building and testing need.
# Run as root (or with sudo available). Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(
  # build: gsswire links MIT's libgssapi_krb5 (the .so link comes with the -dev package)
  libkrb5-dev
  # tests: a real MIT KDC, its admin tools, and the client tools
  krb5-kdc krb5-admin-server krb5-user
  # tests: anonymous tickets (anonymous PKINIT) and the test CA that makes the KDC's certificate
  krb5-pkinit openssl
  # tests: Debian's rsyslog and its GSS modules, the peer we must interoperate with
  rsyslog rsyslog-gssapi
  # tests: kill, and a private network namespace with its own loopback routes
  procps iproute2 util-linux
  # tests: a network cut inside that namespace (silent_nodes)
  iptables
  # tests: promtool (check metrics, check rules) for the collector's per-sender series
  prometheus
  # fuzz/run.sh: libfuzzer-sys compiles libFuzzer's C++ sources
  g++
  # tests and packaging: systemd-socket-activate, systemd-analyze verify of the units;
  # dpkg-dev's dpkg-deb and binutils' objcopy build the Debian packages
  systemd dpkg-dev binutils logrotate
  # tests/tests/clickhouse.rs: a real ClickHouse server (its own config on loopback, a temp directory)
  clickhouse-server clickhouse-client
  # tests: the outside witness of the collector's fdatasync-before-acknowledgement order
  strace
  # archive/tests/report_html.rs: the sshd report's html page rendered in a real headless browser
  chromium
  # tests/bench-archive.sh: the baselines it measures gsslog against (xz, zstd,
  # Debian's 7zip, ripgrep), GNU time's peak memory, and jq for its JSON
  xz-utils zstd 7zip ripgrep time jq
  # packaging/man: groff reads the generated man pages for warnings
  groff-base
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
else
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # No recommends: krb5-kdc would otherwise pull in services we do not want started.
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # Debian's postinst may start the system rsyslog or KDC; the tests use their own
  # instances on private ports and configs, so a running system one is harmless.
fi

# fuzz/run.sh: cargo fuzz (libFuzzer; its C++ part builds with the system g++),
# run on the stable toolchain with RUSTC_BOOTSTRAP=1. Pinned, installed once.
CARGO_FUZZ_VERSION=0.13.1
if cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
  echo "setup: cargo-fuzz $CARGO_FUZZ_VERSION present"
else
  echo "setup: installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
