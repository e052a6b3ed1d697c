#!/bin/bash
# The rollout scenario (issue #22), inside a container booting systemd as
# PID 1 that is KDC, collector and node at once: the admin's guide as the
# packages install it (/usr/share/doc/gsslog-shipper/admin-guide.md.gz), its
# commands taken out of that file, through both routes, with numbered
# messages sent during every step and each step's messages counted in the
# collector's tree: 0 lost and 0 duplicated. Then a restart loop, a rollback
# with a backlog, an upgrade, a purge of rsyslog and a purge of ours with a
# backlog; at the end, the journal holds no warning the guide's own
# configuration causes. Prints one line per check; exits non-zero at the
# first that fails. The packages are in /rollout (testbed/rollout.sh).
set -euo pipefail
H=node1.grid.test
GUIDE=/usr/share/doc/gsslog-shipper/admin-guide.md.gz
fail() {
  echo "FAIL: $*" >&2
  journalctl --no-pager -n 80 -u gsslog-collector -u gsslog-shipper -u rsyslog -u syslog.socket -u systemd-journald -t omgssapi >&2 || true
  exit 1
}
ok() { echo "ok: $*"; }
# wait_for SECONDS command...: until the command succeeds
wait_for() { local n=$(( $1 * 5 )); shift; for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.2; done; return 1; }

# guide_block TEXT: the guide's fenced code block that contains TEXT, as
# written there (a list item's indentation taken off).
guide_block() {
  # awk reads to the end: an early exit would kill zcat with SIGPIPE.
  zcat "$GUIDE" | awk -v want="$1" '
    done { next }
    /^ *```/ { if (inside) { if (found) { printf "%s", block; done = 1 } inside = 0 } else { inside = 1; block = ""; found = 0 } next }
    inside { line = $0; sub(/^   /, "", line); block = block line "\n"; if (index($0, want)) found = 1 }'
}
# guide_run TEXT: runs that block of the guide, as root's shell would.
guide_run() {
  local block; block=$(guide_block "$1")
  [ -n "$block" ] || fail "the guide has no code block with '$1'"
  echo "guide: $(echo "$block" | grep -v '^#' | head -1) ..."
  bash -euxc "$block" 2>&1 | sed 's/^/  | /'
}

# load LABEL N: N numbered messages (user.notice, tag rollout), about 50/s,
# in the background; `wait` ends it.
LOADS=()
load() {
  ( for i in $(seq 1 "$2"); do logger -p user.notice -t rollout "$1 seq $i"; sleep 0.02; done ) &
  LOADS+=($!)
}
wait_loads() { for p in "${LOADS[@]}"; do wait "$p"; done; LOADS=(); }
# received LABEL: how many times each number of LABEL is in the tree, "N COUNT" lines.
received() { grep -rhoa -- "$1 seq [0-9]*\$\|$1 seq [0-9]* " /var/log/hosts 2>/dev/null | awk '{print $3}' | sort -n | uniq -c | awk '{print $2, $1}'; }
all_arrived() { [ "$(received "$1" | wc -l)" -ge "$2" ]; }
# expect LABEL N [SECONDS [MAX_LOST]]: each of 1..N exactly once, within
# SECONDS; with MAX_LOST, up to that many may be missing (never twice).
expect() {
  local label=$1 n=$2 secs=${3:-60} max_lost=${4:-0}
  wait_for "$secs" all_arrived "$label" "$n" || true
  sleep 2 # a late duplicate would show now
  local got lost dup
  got=$(received "$label")
  lost=$(comm -23 <(seq 1 "$n" | sort) <(echo "$got" | awk 'NF {print $1}' | sort) | sort -n | tr '\n' ' ')
  dup=$(echo "$got" | awk '$2 > 1 {printf "%s(x%s) ", $1, $2}')
  local nlost; nlost=$(echo "$lost" | wc -w)
  [ "$nlost" -le "$max_lost" ] && [ -z "$dup" ] || fail "$label: lost [$lost] duplicated [$dup]"
  ok "$label: $((n - nlost)) of $n, none twice${lost:+ (not forwarded: $lost)}"
}

wait_for 60 test -S /run/systemd/private || fail "systemd did not come up"
echo "systemd: $(systemctl is-system-running --wait || true)"
rm -rf /etc/gsslog # the image's seed copies are not ours to leave
# The image's own builds of the daemons: the packages' are in /usr/sbin.
rm -f /usr/local/bin/omgssapi /usr/local/bin/imgssapi

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

# The guide's apt commands as written, answered yes (no terminal here).
echo 'APT::Get::Assume-Yes "true";' > /etc/apt/apt.conf.d/90rollout-yes

# An old tree from the node's rsyslog, as Debian's rsyslog writes it
# (directories root 0755, files root:adm 0640): after the take-over group
# adm still reads it, and the collector's new files too.
old=/var/log/hosts/2025/12/10.0.0.9
mkdir -p "$old" && echo "Dec 31 23:59:59 oldnode old rsyslog line" > "$old/syslog"
chown root:adm "$old/syslog" && chmod 0640 "$old/syslog"
as_adm() { setpriv --reuid=nobody --regid=adm --clear-groups "$@"; }

# Roll out, step 1: the collector. Step 2: the shipper through omprog.
cd /rollout
apt-get install -y -qq ./gsslog-collector_*.deb ./gsslog-shipper_*.deb >/dev/null 2>&1 \
  || dpkg -i ./gsslog-collector_*.deb ./gsslog-shipper_*.deb
[ -f "$GUIDE" ] || fail "the admin's guide is not installed at $GUIDE"
guide_run "wkt /etc/gsslog/collector.keytab"
# The same for the node, as the guide's comment says ("on nodes: shipper.keytab").
guide_block "wkt /etc/gsslog/collector.keytab" | sed 's/collector\.keytab/shipper.keytab/g; s/gsslog-collector/gsslog-shipper/g' | bash -eu >/dev/null
# The realm, as step 1 of the guide says (the package ships a placeholder).
sed -i 's#@<REALM>#@GRID.TEST#' /etc/gsslog/imgssapi.conf
imgssapi -f /etc/gsslog/imgssapi.conf --check-config
systemctl start gsslog-collector
journalctl -u gsslog-collector --no-pager | grep -F "collector running" >/dev/null || fail "no 'collector running'"
as_adm cat "$old/syslog" >/dev/null || fail "group adm can no longer read the old tree: $(ls -la "$old")"
ok "the old tree taken over ($(stat -c %U:%G "$old/syslog")), still readable by group adm"
# The collector named as the guide says, in /etc/default (the config keeps its placeholder).
guide_block "GSSLOG_COLLECTOR=" | sed "s/collector\.example\.org/$H/" | bash -eu
grep -F '<server_name>:<port>' /etc/gsslog/omgssapi.conf >/dev/null || fail "the packaged config lost its placeholder"
# The kernel log test records below are written from user space (facility user).
echo '$KLogPermitNonKernelFacility on' > /etc/gsslog/omgssapi.d/rollout-kmsg.conf
guide_run "--check-config --check-credentials"
# The same check with a keytab the service user cannot read says so.
chmod 0600 /etc/gsslog/shipper.keytab
if said=$(guide_run "--check-config --check-credentials" 2>&1); then fail "the credentials check passed with an unreadable keytab: $said"; fi
echo "$said" | grep -F "/etc/gsslog/shipper.keytab" >/dev/null || fail "the credentials check did not name the keytab: $said"
chmod 0640 /etc/gsslog/shipper.keytab
ok "the guide's credentials check runs as the service and names an unreadable keytab"
guide_block "# /etc/rsyslog.d/60-gsslog.conf" > /etc/rsyslog.d/60-gsslog.conf
cp /etc/rsyslog.d/60-gsslog.conf /root/60-gsslog.conf.saved
systemctl restart rsyslog
load omprog 200; wait_loads
expect omprog 200
logger -p daemon.info -t pbs_mom "rollout pbs job started"
pbs=/var/log/hosts/pbs/$(date +%Y/%m)/log.$(date +%Y%m%d)
wait_for 30 grep -qF "rollout pbs job started" "$pbs" || fail "pbs_mom's line is not in $pbs"
ok "the packaged collector config writes $pbs"
new=$(ls /var/log/hosts/$(date +%Y/%m)/127.0.0.1/syslog)
as_adm cat "$new" "$pbs" >/dev/null || fail "group adm cannot read the collector's new files: $(ls -la "$new" "$pbs")"
ok "group adm reads the new files ($(stat -c %U:%G:%a "$new"))"
journalctl -t omgssapi --no-pager | grep -F "shipper running" >/dev/null || fail "the omprog shipper's log is not in the journal (journalctl -t omgssapi)"
ok "omprog route: the shipper's log is in the journal"

# Step 3, under load: the shipper becomes the node's syslog daemon.
load switch 300
guide_run "systemctl enable --force gsslog-shipper"
wait_loads
expect switch 300
[ "$(readlink /etc/systemd/system/syslog.service)" = /lib/systemd/system/gsslog-shipper.service ] || fail "gsslog-shipper is not syslog.service"

# The kernel log (journald does not forward it): each record once, across
# the restarts below too.
kmsg_token=rollout-kmsg-$$
kmsg() { echo "<6>$kmsg_token $1" > /dev/kmsg; }
kmsg_count() { grep -rhoa -- "$kmsg_token $1\$" /var/log/hosts 2>/dev/null | wc -l; }
kmsg_arrived() { [ "$(kmsg_count "$1")" -ge 1 ]; }
kmsg_once() { # what
  wait_for 60 kmsg_arrived "$1" || fail "the kernel log record '$1' did not arrive: $(systemctl status --no-pager gsslog-shipper-kmsg.socket 2>&1 | tail -5)"
  sleep 2
  [ "$(kmsg_count "$1")" = 1 ] || fail "the kernel log record '$1' arrived $(kmsg_count "$1") times"
}
systemctl is-active -q gsslog-shipper-kmsg.socket || fail "gsslog-shipper-kmsg.socket is not active: $(systemctl status --no-pager gsslog-shipper-kmsg.socket 2>&1 | tail -5)"
kmsg "before the restarts"
kmsg_once "before the restarts"
journalctl -u gsslog-shipper --no-pager | grep -F "reading the kernel log" >/dev/null || fail "the shipper does not say it reads the kernel log"
ok "the kernel log reaches the collector (gsslog-shipper-kmsg.socket)"

# Ten restarts of the socket-activated shipper under load, 2.5 s apart
# (systemd refuses a sixth start within 10 s: StartLimitBurst).
load restarts 1400
for i in $(seq 1 10); do systemctl restart gsslog-shipper; [ "$i" != 5 ] || kmsg "during the restarts"; sleep 2.5; done
wait_loads
expect restarts 1400 90
kmsg_once "before the restarts"
kmsg_once "during the restarts"
ok "the kernel log across 10 restarts: each record once"

# The collector's senders' table in its StateDirectory, across a restart.
state=/var/lib/gsslog-collector/imgssapi-senders.state
systemctl restart gsslog-collector
grep -F 127.0.0.1 "$state" >/dev/null || fail "no senders' state file with this node in $state: $(ls -la /var/lib/gsslog-collector)"
systemctl restart gsslog-collector
grep -F 127.0.0.1 "$state" >/dev/null || fail "the senders' state file lost this node across a restart: $(cat "$state")"
ok "the senders' table is kept in $state across restarts"

# The queue tool finds the service's queue, and says how to stop it.
systemctl stop gsslog-collector
load backlog 100; wait_loads
sleep 2
if out=$(omgssapi queue show -f /etc/gsslog/omgssapi.conf 2>&1); then fail "queue show read a queue in use: $out"; fi
echo "$out" | grep -F "systemctl stop syslog.socket gsslog-shipper" >/dev/null || fail "queue show did not say how to stop the shipper: $out"
ok "queue show on a running shipper: $(echo "$out" | tail -c 120)"

# Roll back with that backlog: stopped for real, the queue shown, then omprog.
guide_run "systemctl stop syslog.socket gsslog-shipper"
sleep 3
logger -p user.notice -t rollout "nobody reads this one"
sleep 1
systemctl is-active -q gsslog-shipper && fail "the shipper is running again after 'systemctl stop syslog.socket gsslog-shipper'"
shown=$(omgssapi queue show -f /etc/gsslog/omgssapi.conf) || fail "queue show failed on a stopped shipper"
records=$(echo "$shown" | awk '/^  records: /{n+=$2} END{print n+0}')
[ "$records" -ge 100 ] || fail "queue show found $records records, the backlog is 100 or more: $shown"
ok "stopped for real; queue show finds the backlog: $records records in /var/lib/gsslog-shipper"
cp /root/60-gsslog.conf.saved /etc/rsyslog.d/60-gsslog.conf
guide_run "systemctl enable --force rsyslog"
[ "$(readlink /etc/systemd/system/syslog.service)" = /lib/systemd/system/rsyslog.service ] || fail "rsyslog is not syslog.service after the rollback"
systemctl start gsslog-collector
load rollback 100; wait_loads
expect backlog 100 90
expect rollback 100

# Upgrade under load (omprog: the running shipper keeps the old binary
# until rsyslog restarts, as the guide says).
load upgrade 200
dpkg -i /rollout/gsslog-collector_*.deb /rollout/gsslog-shipper_*.deb >/dev/null
systemctl restart rsyslog
wait_loads
expect upgrade 200 90

# Back to socket activation, then rsyslog purged under load: forwarding goes on.
guide_run "systemctl enable --force gsslog-shipper"
load purge-rsyslog 300
guide_run "apt purge rsyslog" </dev/null
sleep 1
wait_loads
load after-rsyslog 100; wait_loads
expect after-rsyslog 100
# The guide's documented choice: what journald forwards while rsyslog's
# removal and purge have the socket down is not forwarded (journald counts
# it); nothing arrives twice, and the loss stays within those moments. At
# about 50 messages a second, 40 to 55 of 300 were measured in CI runs
# (two gaps: rsyslog's prerm stops syslog.socket until our trigger runs at
# the end of dpkg's run, ~31; the purge takes the syslog.service alias and
# our trigger restarts the socket to give it back, ~9): at most 75.
expect purge-rsyslog 300 60 75
systemctl is-active -q syslog.socket gsslog-shipper || fail "syslog.socket or gsslog-shipper not active after rsyslog's purge"
[ "$(readlink /etc/systemd/system/syslog.service)" = /lib/systemd/system/gsslog-shipper.service ] || fail "rsyslog's purge took syslog.service"
ok "rsyslog purged: gsslog-shipper is syslog.service and forwards"

# No warning the guide's configuration causes, in any journal.
# Excepted: the collector outages this scenario makes, and the packaged
# collector config's missing allowed principal (another change sets it).
# The kernel's records (this container shares the host's kernel log) are
# the host's, not the guide's configuration's: left out.
warnings=$(journalctl -b -p warning --no-pager -o cat _TRANSPORT=journal _TRANSPORT=syslog _TRANSPORT=stdout _TRANSPORT=driver | grep -iE "omgssapi|imgssapi|gsslog|omprog|syslog\.(socket|service)|notify" \
  | grep -vE "no \\\$InputGSSServerAllowedPrincipal|^collector unreachable" || true)
[ -z "$warnings" ] || fail "warnings in the journal:
$warnings"
ok "the journal holds no warning about the shipper, the collector, omprog or systemd's notify protocol"

# Purge ours with a backlog: the queue is moved aside, never deleted.
systemctl stop gsslog-collector
load last 50; wait_loads
sleep 2
said=$(apt-get purge -y gsslog-shipper 2>&1) || said=$(dpkg -P gsslog-shipper 2>&1)
saved=$(ls -d /var/lib/gsslog-shipper.purged-* 2>/dev/null | head -1)
[ -n "$saved" ] || fail "purge with a backlog left no queue aside: $said"
echo "$said" | grep -F "$saved" >/dev/null || fail "purge did not say where the queue went: $said"
ok "purge with a backlog: the queue is kept in $saved, and purge said so"
[ "$(stat -c %G:%a /etc/gsslog/shipper.keytab)" = root:600 ] || fail "the kept keytab is $(stat -c %G:%a /etc/gsslog/shipper.keytab) after purge"
ok "purge kept the shipper's keytab, root's alone"
dpkg -P gsslog-collector >/dev/null
echo "rollout scenario: all checks passed"
