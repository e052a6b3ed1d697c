#!/bin/bash
# A worker node with our shipper and the grid's client stanza; the load driver
# feeds the shipper's local TCP input.
set -e
. /testbed/common.sh
wait_for_keytabs
sed -e 's#<server_name>:<port>#collector.grid.test:515#' /etc/gsslog/seed/client.conf > /etc/gsslog/client.conf
if [ -n "$CAP" ]; then sed -i "s#^\$ActionQueueMaxDiskSpace .*#\$ActionQueueMaxDiskSpace $CAP#" /etc/gsslog/client.conf; fi
# The shipper's own retry defaults (1 s doubling to 3 s); BACKOFF_MAX (ms) overrides.
: > /etc/gsslog/extra.conf
if [ -n "${BACKOFF_MAX:-}" ]; then echo "\$ActionGSSForwardBackoffMax $BACKOFF_MAX" > /etc/gsslog/extra.conf; fi
cat /etc/gsslog/extra.conf /etc/gsslog/client.conf > /etc/gsslog/omgssapi.conf
export KRB5_CLIENT_KTNAME=FILE:/shared/keytabs/$NODE.keytab KRB5CCNAME=FILE:/tmp/krb5cc_shipper
omgssapi -f /etc/gsslog/omgssapi.conf --tcp 127.0.0.1:5514 --work-directory /var/spool/gsslog &
shipper=$!
trap 'kill -TERM $shipper; wait $shipper' TERM
mkdir -p /shared/reports
loadgen "$NODE" tcp:127.0.0.1:5514 "${RATE:-200}" "${COUNT:-6000}" "/shared/reports/$NODE" &
wait $shipper
