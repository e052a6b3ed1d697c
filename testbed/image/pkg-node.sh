#!/bin/bash
# A worker node with our shipper package: the packaged client stanza with the
# testbed's collector, started from its unit's ExecStart as its user with no
# capability, fed by the load driver through a local TCP input (socket
# activation needs systemd, which the container has not), then removed and
# purged.
set -e
. /testbed/pkg-common.sh
wait_for_keytabs
install_package gsslog-shipper omgssapi
install -m 0640 -g gsslog-shipper "/shared/keytabs/$NODE.keytab" /etc/gsslog/shipper.keytab
sed -i -e 's#<server_name>:<port>#collector.grid.test:515#' /etc/gsslog/omgssapi.conf
sed -i -e '1i $ActionGSSForwardBackoffBase 500\n$ModLoad imtcp\n$InputTCPServerBindAddress 127.0.0.1\n$InputTCPServerRun 5514' /etc/gsslog/omgssapi.conf
/usr/sbin/omgssapi -f /etc/gsslog/omgssapi.conf --check-config
run_unit gsslog-shipper.service
trap 'kill -TERM $daemon' TERM
check_identity "$daemon" gsslog-shipper 0000000000000000
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/5514) 2>/dev/null && break; sleep 0.1; done
mkdir -p /shared/reports
loadgen "$NODE" tcp:127.0.0.1:5514 "${RATE:-200}" "${COUNT:-6000}" "/shared/reports/$NODE"
mode=$(stat -c %a /var/lib/gsslog-shipper)
[ "$mode" = 700 ] || { echo "queue directory mode $mode, not 700" >&2; exit 1; }
remove_when_told gsslog-shipper
