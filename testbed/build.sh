#!/usr/bin/env bash
# Builds the testbed images without any registry:
#  1. gsslog-testbed-base: a Debian root made with debootstrap from the same
#     package sources apt uses on this machine (MIT KDC, rsyslog, rsyslog-gssapi),
#     then `docker import`ed. Built once and reused.
#  2. gsslog-testbed: the base plus our release binaries, our Debian packages
#     (packaging/build-debs.sh) and the role scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap; }

suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
mirror=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
         | grep -v security | grep -oE 'https?://[^ ]+/debian' | head -n 1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
if ! docker image inspect gsslog-testbed-base >/dev/null 2>&1; then
  root=$(mktemp -d /var/tmp/gsslog-rootfs.XXXXXX)
  echo "testbed: debootstrap $suite from $mirror (a few minutes)"
  debootstrap --variant=minbase \
    --include=krb5-kdc,krb5-admin-server,krb5-user,rsyslog,rsyslog-gssapi,iproute2,procps,libgssapi-krb5-2 \
    "$suite" "$root" "$mirror" > "$root.log" || { tail -20 "$root.log" >&2; exit 1; }
  rm -f "$root.log"
  rm -rf "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" -c . | docker import - gsslog-testbed-base >/dev/null
  rm -rf "$root"
fi

cargo build --release --locked --quiet -p omgssapi -p imgssapi -p gsslog-tests
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/bin" "$ctx/seed" "$ctx/debs/old"
# The Debian packages, from the same release build, for the packaged and
# systemd scenarios, in two versions: they install the older (debs/old) and
# upgrade to the newer (debs), so the upgrade is a real one.
base=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
DEB_VERSION="$base-1" bash packaging/build-debs.sh >/dev/null
cp target/debian/gsslog-collector_*.deb target/debian/gsslog-shipper_*.deb "$ctx/debs/old/"
DEB_VERSION="$base-2" bash packaging/build-debs.sh >/dev/null
cp target/debian/gsslog-collector_*.deb target/debian/gsslog-shipper_*.deb "$ctx/debs/"
cp target/debian/gsslog-tools_*.deb "$ctx/debs/"
cp target/release/{omgssapi,imgssapi,loadgen} "$ctx/bin/"
cp testbed/image/*.sh "$ctx/"
cp syslog/testdata/{client,server}.conf "$ctx/seed/"
cp testbed/image/Dockerfile "$ctx/"
docker build -q -t gsslog-testbed "$ctx" >/dev/null

# 3. gsslog-testbed-systemd: the same with systemd, to boot it as PID 1 (the
#    systemd scenario). Its packages come from the same sources, through apt.
sd=$ctx/systemd
mkdir -p "$sd/debs"
if (cd "$sd/debs" && apt-get download -qq systemd libsystemd0 libsystemd-shared libudev1 libapparmor1 libcryptsetup12 \
      libfdisk1 libkmod2 libargon2-1 libdevmapper1.02.1 dmsetup libip4tc2 2>/dev/null); then
  printf 'FROM gsslog-testbed\nCOPY debs/ /sd-debs/\nRUN dpkg -i /sd-debs/*.deb >/dev/null && rm -rf /sd-debs\n' > "$sd/Dockerfile"
  docker build -q -t gsslog-testbed-systemd "$sd" >/dev/null
else
  echo "testbed: could not download systemd's packages; the systemd scenario will fail" >&2
fi
echo "testbed: images gsslog-testbed-base, gsslog-testbed and gsslog-testbed-systemd ready"
