#!/usr/bin/env bash
# Builds the Debian packages from this repository:
#   target/debian/gsslog-collector_VERSION_ARCH.deb   imgssapi, unit, config, logrotate, man page
#   target/debian/gsslog-shipper_VERSION_ARCH.deb     omgssapi, unit, config, man page, omprog wrapper
#   target/debian/*-dbgsym_VERSION_ARCH.deb           the debug info split off the binaries
#   target/debian/gsslog-tools_VERSION_ARCH.deb       gsslog, its nightly sealing service and timer, man page
# It reuses the release build (the testbed's and the benchmark's, whose
# profile keeps debug info): the binaries are stripped here with objcopy and
# their debug info goes to the -dbgsym packages, by build id, as Debian does.
# Needs: cargo, and dpkg-dev and binutils (tests/setup.sh installs them).
# Environment: DEB_VERSION (default: the workspace version, revision 1).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
version=${DEB_VERSION:-$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)-1}
arch=$(dpkg --print-architecture)
maintainer=${DEB_MAINTAINER:-"gsslog developers <gsslog@localhost>"}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

cargo build --release --locked --quiet -p omgssapi -p imgssapi -p gsslog-man
cargo build --release --locked --quiet -p gsslog-archive --bin gsslog
out=target/debian
rm -rf "$out/stage" "$out"/*.deb
mkdir -p "$out/stage/man"
target/release/gsslog-man "$out/stage/man"

# The shared-library dependencies of a binary, as dpkg-shlibdeps computes them.
shlibs() {
  local tmp; tmp=$(mktemp -d)
  mkdir -p "$tmp/debian"
  printf 'Source: gsslog\n\nPackage: gsslog\nArchitecture: any\n' > "$tmp/debian/control"
  (cd "$tmp" && dpkg-shlibdeps -O -e"$1" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
  rm -rf "$tmp"
}

# Files of a package staged under $stage: DEBIAN/ made from packaging/debian/$pkg.
finish() { # pkg stage depends
  local pkg=$1 stage=$2 depends=$3 meta=packaging/debian/$1
  mkdir -p "$stage/DEBIAN"
  sed -e "s/\${shlibs:Depends}/$depends/" "$meta/control" > "$stage/DEBIAN/control.body"
  {
    sed -n '1,/^Priority/p' "$stage/DEBIAN/control.body"
    echo "Version: $version"
    echo "Architecture: $arch"
    echo "Maintainer: $maintainer"
    echo "Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
    sed -n '/^Priority/,$p' "$stage/DEBIAN/control.body" | tail -n +2
  } > "$stage/DEBIAN/control"
  rm "$stage/DEBIAN/control.body"
  for script in postinst prerm postrm; do
    [ -f "$meta/$script" ] && install -m 0755 "$meta/$script" "$stage/DEBIAN/$script"
  done
  [ ! -f "$meta/triggers" ] || grep -v '^#' "$meta/triggers" > "$stage/DEBIAN/triggers"
  (cd "$stage" && { [ ! -d etc ] || find etc -type f; } | sort | sed 's#^#/#') > "$stage/DEBIAN/conffiles"
  [ -s "$stage/DEBIAN/conffiles" ] || rm "$stage/DEBIAN/conffiles"
  (cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
  dpkg-deb --root-owner-group -Zxz --build "$stage" "$out/${pkg}_${version}_${arch}.deb" >/dev/null
}

# The documents (docs/*.md) a package installs under /usr/share/doc/PKG/.
package_docs() { # pkg
  case $1 in
    *-dbgsym) ;;
    gsslog-collector) echo admin-guide.md collector.md clickhouse.md directives.md security.md protocol.md monitoring.md ;;
    gsslog-shipper) echo admin-guide.md shipper.md queue.md directives.md security.md protocol.md monitoring.md ;;
    gsslog-tools) echo admin-guide.md archive.md ;;
    *) echo "package_docs: no documents listed for $1" >&2; return 1 ;;
  esac
}

docs() { # pkg stage
  local doc=$2/usr/share/doc/$1
  install -d "$doc"
  # The admin's guide (docs/admin-guide.md), which the postinst messages point
  # to, and the documents for what the package holds.
  local name
  for name in $(package_docs "$1"); do
    gzip -9n < "$root/docs/$name" > "$doc/$name.gz"
  done
  cat > "$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: gsslog

Files: *
Copyright: the gsslog developers
License: MIT or Apache-2.0
 Licensed under either of the Apache License, Version 2.0
 (/usr/share/common-licenses/Apache-2.0) or the MIT license, at your option.
COPYRIGHT
  # The MIT text is not in /usr/share/common-licenses: it goes in whole.
  { echo; echo "License: MIT"; sed 's/^$/./; s/^/ /' "$root/LICENSE-MIT"; } >> "$doc/copyright"
  printf 'gsslog (%s) unstable; urgency=medium\n\n  * Built from the repository at %s.\n\n -- %s  %s\n' \
    "$version" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$maintainer" \
    "$(date -R -u -d "@$SOURCE_DATE_EPOCH")" | gzip -9n > "$doc/changelog.Debian.gz"
}

collector_monitoring() { # stage: the silent-node check, alert rules and dashboard (docs/monitoring.md "Silent nodes")
  local stage=$1 plugin=$1/usr/lib/nagios/plugins/check_gsslog_senders
  install -D -m 0755 target/release/check_gsslog_senders "$plugin"
  objcopy --strip-debug --strip-unneeded --remove-section=.comment "$plugin"
  install -D -m 0644 packaging/monitoring/gsslog-senders.rules.yml "$stage/usr/share/gsslog/monitoring/gsslog-senders.rules.yml"
  install -D -m 0644 packaging/monitoring/gsslog-senders.dashboard.json "$stage/usr/share/gsslog/monitoring/gsslog-senders.dashboard.json"
}

package() { # pkg binary seed-config
  local pkg=$1 bin=$2 seed=$3
  local stage=$out/stage/$pkg dbg=$out/stage/$pkg-dbgsym
  install -D -m 0755 "target/release/$bin" "$stage/usr/sbin/$bin"
  # Debug info off to the -dbgsym package, found by build id.
  local id; id=$(readelf -n "$stage/usr/sbin/$bin" | sed -n 's/.*Build ID: //p')
  local debug=$dbg/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug
  install -d "$(dirname "$debug")"
  objcopy --only-keep-debug --compress-debug-sections "$stage/usr/sbin/$bin" "$debug"
  chmod 0644 "$debug"
  objcopy --strip-debug --strip-unneeded --remove-section=.comment "$stage/usr/sbin/$bin"
  install -D -m 0644 "packaging/systemd/$pkg.service" "$stage/lib/systemd/system/$pkg.service"
  [ "$pkg" != gsslog-shipper ] || install -D -m 0644 packaging/systemd/gsslog-shipper-kmsg.socket "$stage/lib/systemd/system/gsslog-shipper-kmsg.socket"
  install -D -m 0644 "$seed" "$stage/etc/gsslog/$bin.conf"
  install -d -m 0755 "$stage/etc/gsslog/$bin.d"   # its $IncludeConfig directory
  install -D -m 0644 "$out/stage/man/$bin.8" "$stage/usr/share/man/man8/$bin.8"
  gzip -9n "$stage/usr/share/man/man8/$bin.8"
  [ "$pkg" != gsslog-collector ] || install -D -m 0644 packaging/logrotate/gsslog-collector "$stage/etc/logrotate.d/gsslog-collector"
  [ "$pkg" != gsslog-collector ] || collector_monitoring "$stage"
  [ "$pkg" != gsslog-shipper ] || install -D -m 0755 packaging/omprog/gsslog-shipper-omprog "$stage/usr/libexec/gsslog/gsslog-shipper-omprog"
  [ "$pkg" != gsslog-shipper ] || install -D -m 0644 packaging/default/gsslog-shipper "$stage/etc/default/gsslog-shipper"
  docs "$pkg" "$stage"
  finish "$pkg" "$stage" "$(shlibs "$root/target/release/$bin")"

  # As Debian's dbgsym packages: the docs are the package's own (it is a
  # dependency), by a symlink, no files of their own.
  install -d "$dbg/usr/share/doc"
  ln -s "$pkg" "$dbg/usr/share/doc/$pkg-dbgsym"
  mkdir -p "$dbg/DEBIAN"
  cat > "$dbg/DEBIAN/control" <<CONTROL
Package: $pkg-dbgsym
Source: gsslog
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk "$dbg" | cut -f1)
Depends: $pkg (= $version)
Section: debug
Priority: optional
Auto-Built-Package: debug-symbols
Build-Ids: $id
Description: debug symbols for $pkg
CONTROL
  (cd "$dbg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$dbg/DEBIAN/md5sums"
  dpkg-deb --root-owner-group -Zxz --build "$dbg" "$out/${pkg}-dbgsym_${version}_${arch}.deb" >/dev/null
}

# The admin's tool: a command, not a daemon (no config file, no -dbgsym: its
# debug info is stripped), and the nightly sealing service and timer.
package_tools() {
  local pkg=gsslog-tools stage=$out/stage/gsslog-tools
  install -D -m 0755 target/release/gsslog "$stage/usr/sbin/gsslog"
  objcopy --strip-debug --strip-unneeded --remove-section=.comment "$stage/usr/sbin/gsslog"
  for unit in gsslog-seal.service gsslog-seal.timer; do
    install -D -m 0644 "packaging/systemd/$unit" "$stage/lib/systemd/system/$unit"
  done
  install -D -m 0644 "$out/stage/man/gsslog.8" "$stage/usr/share/man/man8/gsslog.8"
  gzip -9n "$stage/usr/share/man/man8/gsslog.8"
  docs "$pkg" "$stage"
  finish "$pkg" "$stage" "$(shlibs "$root/target/release/gsslog")"
}

package gsslog-collector imgssapi packaging/config/imgssapi.conf
package gsslog-shipper omgssapi packaging/config/omgssapi.conf
package_tools
rm -rf "$out/stage"
ls -l "$out"/*.deb
