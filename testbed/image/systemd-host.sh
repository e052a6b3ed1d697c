#!/bin/bash
# The packages under a real systemd (PID 1 of this container), on one host
# that is KDC, collector and node at once, through the admin guide's rollout:
# install, keytabs, the collector; the shipper beside rsyslog through omprog;
# then the shipper as the node's syslog daemon, socket-activated by
# syslog.socket with journald forwarding; watchdog, SIGHUP, upgrade, then
# removal and purge. Prints one line per check; exits non-zero at the first
# that fails.
set -euo pipefail
H=node1.grid.test
fail() { echo "FAIL: $*" >&2; journalctl --no-pager -n 40 -u gsslog-collector -u gsslog-shipper -u rsyslog >&2 || true; exit 1; }
ok() { echo "ok: $*"; }
# wait_for SECONDS command...: until the command succeeds
wait_for() { local n=$(( $1 * 5 )); shift; for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.2; done; return 1; }
tree_has() { grep -rqs -- "$1" /var/log/hosts; }
# Not grep -q: with pipefail, journalctl killed by SIGPIPE would fail the test.
journal_has() { journalctl -u "$1" --no-pager | grep -F -- "$2" >/dev/null; }
identity() { # unit user capeff
  local pid; pid=$(systemctl show -p MainPID --value "$1")
  local user; user=$(ps -o user= -p "$pid" | tr -d ' ')
  local eff bnd nnp sec
  eff=$(sed -n 's/^CapEff:\t*//p' "/proc/$pid/status"); bnd=$(sed -n 's/^CapBnd:\t*//p' "/proc/$pid/status")
  nnp=$(sed -n 's/^NoNewPrivs:\t*//p' "/proc/$pid/status"); sec=$(sed -n 's/^Seccomp:\t*//p' "/proc/$pid/status")
  [ "$user" = "$2" ] && [ "$eff" = "$3" ] && [ "$bnd" = "$3" ] && [ "$nnp" = 1 ] && [ "$sec" = 2 ] \
    || fail "$1 runs as $user, CapEff $eff, CapBnd $bnd, NoNewPrivs $nnp, Seccomp $sec"
  ok "$1 runs as $user, capabilities $eff, no new privileges, seccomp filter"
}

wait_for 60 test -S /run/systemd/private || fail "systemd did not come up"
state=$(systemctl is-system-running --wait || true)
echo "systemd: $state"

# A fresh host: the testbed image's seed copies are not ours to leave.
rm -rf /etc/gsslog

# A realm on this host: the KDC, and the host key in /etc/krb5.keytab.
cat > /etc/krb5.conf <<KRB
[libdefaults]
  default_realm = GRID.TEST
  dns_lookup_kdc = false
  dns_canonicalize_hostname = false
  rdns = false
[realms]
  GRID.TEST = {
    kdc = 127.0.0.1:88
  }
[domain_realm]
  .grid.test = GRID.TEST
KRB
mkdir -p /etc/krb5kdc /var/lib/krb5kdc
printf '[kdcdefaults]\n kdc_ports = 88\n kdc_tcp_ports = 88\n[realms]\n GRID.TEST = {\n  database_name = /var/lib/krb5kdc/principal\n  key_stash_file = /etc/krb5kdc/stash\n }\n' > /etc/krb5kdc/kdc.conf
kdb5_util create -s -r GRID.TEST -P masterpw >/dev/null
kadmin.local -q "addprinc -randkey host/$H" >/dev/null
kadmin.local -q "ktadd -k /etc/krb5.keytab host/$H" >/dev/null
chmod 600 /etc/krb5.keytab
systemctl restart krb5-kdc

# Install (the older build: the upgrade below goes to the newer one): the
# collector is enabled but waits for its keytab; the shipper's unit is left
# alone (rsyslog is the node's syslog.service).
dpkg -i /debs/old/gsslog-collector_*.deb /debs/old/gsslog-shipper_*.deb
systemctl is-enabled -q gsslog-collector || fail "the collector is not enabled"
! systemctl is-active -q gsslog-collector || fail "the collector started without a keytab"
[ "$(readlink /etc/systemd/system/syslog.service)" = /lib/systemd/system/rsyslog.service ] || fail "installing took syslog.service from rsyslog"
ok "installed; collector enabled, waiting for its keytab; rsyslog still syslog.service"

# The admin guide: each daemon's copy of the host key, readable by its group.
for side in collector shipper; do
  printf 'rkt /etc/krb5.keytab\nwkt /etc/gsslog/%s.keytab\n' "$side" | ktutil >/dev/null
  chgrp "gsslog-$side" "/etc/gsslog/$side.keytab"; chmod 0640 "/etc/gsslog/$side.keytab"
done
sed -i "s#<server_name>:<port>#$H:515#" /etc/gsslog/omgssapi.conf
sed -i "s#@<REALM>#@GRID.TEST#" /etc/gsslog/imgssapi.conf

# Collector: `systemctl start` returns once it serves (Type=notify).
systemctl start gsslog-collector
ss -ltn | grep -q ':515 ' || fail "systemctl start returned before the collector listened"
identity gsslog-collector.service gsslog-collector 0000000000000400
ok "collector ready when systemctl start returned"

# Step 1 of the rollout: the shipper beside rsyslog, through omprog.
cat > /etc/rsyslog.d/60-gsslog.conf <<'CONF'
module(load="omprog")
*.* action(type="omprog" binary="/usr/libexec/gsslog/gsslog-shipper-omprog" confirmMessages="on" template="RSYSLOG_TraditionalForwardFormat")
CONF
systemctl restart rsyslog
for i in $(seq 1 20); do logger -p authpriv.notice -t rollout "omprog seq $i"; done
wait_for 30 tree_has "omprog seq 20" || fail "messages through omprog did not arrive"
ok "omprog route: 20 messages in the collector's tree"
[ -z "$(find /var/lib/gsslog-shipper ! -user gsslog-shipper)" ] || fail "omprog left files not owned by gsslog-shipper: $(ls -la /var/lib/gsslog-shipper)"

# Step 2: the shipper replaces rsyslog as the node's syslog daemon.
mkdir -p /etc/systemd/journald.conf.d
printf '[Journal]\nForwardToSyslog=yes\n' > /etc/systemd/journald.conf.d/gsslog.conf
systemctl restart systemd-journald
rm /etc/rsyslog.d/60-gsslog.conf
systemctl disable --now rsyslog
systemctl enable --now gsslog-shipper
[ "$(readlink /etc/systemd/system/syslog.service)" = /lib/systemd/system/gsslog-shipper.service ] || fail "gsslog-shipper is not syslog.service"
identity gsslog-shipper.service gsslog-shipper 0000000000000000
journal_has gsslog-shipper "listening on a unix socket passed by systemd" || fail "the shipper did not take syslog.socket"
for i in $(seq 1 20); do logger -p authpriv.notice -t rollout "activated seq $i"; done
wait_for 30 tree_has "activated seq 20" || fail "messages through journald and syslog.socket did not arrive"
ok "socket activation: 20 messages from journald in the collector's tree"
bad=$(find /var/lib/gsslog-shipper -type f ! -perm 0600)
[ -z "$bad" ] || fail "queue files not 0600: $bad"
[ "$(stat -c %a /var/lib/gsslog-shipper)" = 700 ] || fail "queue directory not 0700"
ok "queue directory 0700, its files 0600"

# The watchdog: pings at half of WatchdogSec keep both alive.
for unit in gsslog-collector gsslog-shipper; do
  mkdir -p "/etc/systemd/system/$unit.service.d"
  printf '[Service]\nWatchdogSec=2s\n' > "/etc/systemd/system/$unit.service.d/watchdog.conf"
done
systemctl daemon-reload
systemctl restart gsslog-collector gsslog-shipper
sleep 6
for unit in gsslog-collector gsslog-shipper; do
  systemctl is-active -q "$unit" || fail "$unit is not active"
  [ "$(systemctl show -p NRestarts --value "$unit")" = 0 ] || fail "$unit was restarted: its watchdog pings do not arrive"
  [ "$(systemctl show -p WatchdogUSec --value "$unit")" = 2s ] || fail "$unit has no watchdog"
  rm -r "/etc/systemd/system/$unit.service.d"
done
systemctl daemon-reload
ok "watchdog: 6 s with WatchdogSec=2s, no restart"

# logrotate's postrotate: SIGHUP to the collector's main process.
systemctl kill --kill-whom=main --signal=HUP gsslog-collector.service
systemctl reload gsslog-shipper
sleep 1
wait_for 10 journal_has gsslog-collector "SIGHUP: closing every output file" || fail "the collector did not see SIGHUP"
systemctl is-active -q gsslog-collector gsslog-shipper || fail "SIGHUP stopped a daemon"
ok "SIGHUP: files closed, both daemons go on"

# Upgrade to the newer build: both restarted, still serving.
before=$(systemctl show -p MainPID --value gsslog-collector)
old_version=$(dpkg-query -W -f='${Version}' gsslog-collector)
dpkg -i /debs/gsslog-collector_*.deb /debs/gsslog-shipper_*.deb
for p in gsslog-collector gsslog-shipper; do
  [ "$(dpkg-query -W -f='${Version}' $p)" != "$old_version" ] || fail "$p: the upgrade did not change the installed version"
done
systemctl is-active -q gsslog-collector gsslog-shipper || fail "not active after the upgrade"
[ "$(systemctl show -p MainPID --value gsslog-collector)" != "$before" ] || fail "the upgrade did not restart the collector"
logger -p authpriv.notice -t rollout "after upgrade"
wait_for 30 tree_has "after upgrade" || fail "nothing arrives after the upgrade"
ok "upgrade: restarted and delivering"

# The archive (gsslog-tools): the nightly seal, run now, as the tree's owner
# into /var/lib/gsslog/archive; what it sealed is found by gsslog grep.
dpkg -i /debs/gsslog-tools_*.deb
systemctl is-enabled -q gsslog-seal.timer || fail "the sealing timer is not enabled beside the collector"
systemctl is-active -q gsslog-seal.timer || fail "the sealing timer is not started"
systemctl start gsslog-seal.service || fail "the seal failed: $(journalctl -u gsslog-seal --no-pager -n 20)"
[ "$(systemctl show -p Result --value gsslog-seal.service)" = success ] || fail "the seal did not succeed"
[ "$(stat -c %U:%a /var/lib/gsslog/archive)" = gsslog-collector:750 ] || fail "archive: $(stat -c %U:%a /var/lib/gsslog/archive), not gsslog-collector:750"
[ -n "$(find /var/lib/gsslog/archive -type f)" ] || fail "the seal wrote nothing into /var/lib/gsslog/archive"
gsslog grep -F "after upgrade" /var/log/hosts | grep -q "auth.log:.*after upgrade" || fail "gsslog grep does not find what was sealed"
ok "gsslog-tools: the nightly timer enabled, a seal as gsslog-collector, the archive searchable"
dpkg -P gsslog-tools
[ -d /var/lib/gsslog/archive ] || fail "purging gsslog-tools deleted the archive"
! systemctl is-enabled -q gsslog-seal.timer 2>/dev/null || fail "the timer is still enabled after purge"
ok "gsslog-tools purged; the archive, the only copy of removed months, kept"

# Roll back to rsyslog, then remove and purge.
systemctl disable --now gsslog-shipper
systemctl enable --now rsyslog
[ "$(readlink /etc/systemd/system/syslog.service)" = /lib/systemd/system/rsyslog.service ] || fail "rsyslog is not syslog.service again"
dpkg -r gsslog-shipper gsslog-collector
! systemctl is-active -q gsslog-collector || fail "the collector runs after its removal"
rm -f /etc/gsslog/*.keytab
dpkg -P gsslog-shipper gsslog-collector
! getent passwd gsslog-shipper >/dev/null || fail "user gsslog-shipper left after purge"
# The tree holds the grid's logs: purge keeps it, and its owner with it.
[ -d /var/log/hosts ] && tree_has "after upgrade" || fail "purge deleted the collector's logs"
getent passwd gsslog-collector >/dev/null || fail "purge removed the owner of the kept tree"
[ ! -e /var/lib/gsslog-shipper ] || fail "the queue directory is left after purge"
[ ! -e /etc/gsslog ] || fail "/etc/gsslog left after purge: $(ls -la /etc/gsslog)"
[ "$(readlink /etc/systemd/system/syslog.service)" = /lib/systemd/system/rsyslog.service ] || fail "purging took syslog.service from rsyslog"
systemctl is-active -q rsyslog || fail "rsyslog does not run after the purge"
ok "purge kept /var/log/hosts, which holds logs, and its owner gsslog-collector"
ok "removed and purged; rsyslog is the node's syslog daemon again"
echo "systemd scenario: all checks passed"
