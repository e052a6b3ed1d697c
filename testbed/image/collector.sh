#!/bin/bash
# Our collector with the grid's server.conf (paths and port adapted).
set -e
. /testbed/common.sh
wait_for_keytabs
sed -e 's#/var/log/hosts#/data/hosts#g' /etc/gsslog/seed/server.conf > /etc/gsslog/server.conf
export KRB5_KTNAME=FILE:/shared/keytabs/collector.keytab
exec imgssapi -f /etc/gsslog/server.conf -x
