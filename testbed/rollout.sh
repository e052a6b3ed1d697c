#!/usr/bin/env bash
# The rollout scenario (issue #22): one container booting systemd 252 as
# PID 1 (image gsslog-testbed-systemd, bash testbed/build.sh), no network but
# its loopback, walks the admin's guide as the packages install it
# (testbed/image/rollout-host.sh). The packages are this checkout's
# (target/debian, built by build.sh), copied in at run time. On a real node
# systemd as PID 1 raises net.unix.max_dgram_qlen to 512 at boot (journald's
# forwarding to syslog.socket drops what does not fit); a container's
# /proc/sys is read-only to it, so docker sets it here. The kernel log: the
# host's /dev/kmsg, which systemd opens for the shipper (CAP_SYSLOG, as
# kernel.dmesg_restrict=1 asks of a reader); the scenario writes its test
# records there.
set -euo pipefail
cd "$(dirname "$0")/.."
name=gt-rollout-$$
debs=(target/debian/gsslog-collector_*_*.deb target/debian/gsslog-shipper_*_*.deb)
for d in "${debs[@]}"; do [ -f "$d" ] || { echo "rollout: $d is missing: bash testbed/build.sh" >&2; exit 1; }; done
# KEEP=1 leaves the container for a look after a failure (docker rm -f it).
[ -n "${KEEP:-}" ] || trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT
docker run -d --label gsslog-rollout --name "$name" --hostname node1.grid.test \
  --network none --add-host node1.grid.test:127.0.0.1 \
  --cap-add SYS_ADMIN --security-opt seccomp=unconfined --cgroupns=host \
  --sysctl net.unix.max_dgram_qlen=512 \
  --device /dev/kmsg --cap-add SYSLOG \
  -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock \
  gsslog-testbed-systemd /lib/systemd/systemd >/dev/null
docker exec "$name" mkdir -p /rollout
for d in "${debs[@]}"; do docker cp "$d" "$name:/rollout/"; done
docker cp testbed/image/rollout-host.sh "$name:/rollout/"
echo "== rollout ($name): the admin's guide, both routes, rollback, upgrade, purges"
timeout 900 docker exec "$name" bash /rollout/rollout-host.sh
