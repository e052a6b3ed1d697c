#!/bin/bash
# A worker node running Debian's stock rsyslog with omgssapi and the grid's
# client stanza, as part of a mixed fleet.
set -e
. /testbed/common.sh
wait_for_keytabs
{
  echo '$ModLoad imtcp'
  echo '$InputTCPServerRun 5514'
  echo '$ModLoad omgssapi'
  echo '$WorkDirectory /var/spool/rsyslog'
  sed -e 's#<server_name>:<port>#collector.grid.test:515#' /etc/gsslog/seed/client.conf
} > /etc/rsyslog-testbed.conf
export KRB5_CLIENT_KTNAME=FILE:/shared/keytabs/$NODE.keytab KRB5CCNAME=FILE:/tmp/krb5cc_rsyslog
rsyslogd -n -f /etc/rsyslog-testbed.conf -i /run/rsyslogd.pid &
rs=$!
trap 'kill -TERM $rs; wait $rs' TERM
mkdir -p /shared/reports
loadgen "$NODE" tcp:127.0.0.1:5514 "${RATE:-200}" "${COUNT:-6000}" "/shared/reports/$NODE" &
wait $rs
