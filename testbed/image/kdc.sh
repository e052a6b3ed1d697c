#!/bin/bash
# The KDC: creates the realm, a host principal and keytab for the collector and
# for every node named in $NODES, then serves.
set -e
. /testbed/common.sh
mkdir -p /etc/krb5kdc /var/lib/krb5kdc /shared/keytabs
cat > /etc/krb5kdc/kdc.conf <<KDC
[kdcdefaults]
  kdc_ports = 88
  kdc_tcp_ports = 88
[realms]
  $REALM = {
    database_name = /var/lib/krb5kdc/principal
    key_stash_file = /etc/krb5kdc/stash
  }
KDC
if [ ! -f /shared/keytabs/ready ]; then
  kdb5_util create -s -r $REALM -P masterpw >/dev/null
  for host in collector $NODES; do
    kadmin.local -q "addprinc -randkey host/$host.grid.test" >/dev/null
    kadmin.local -q "ktadd -k /shared/keytabs/$host.keytab host/$host.grid.test" >/dev/null
  done
  chmod 644 /shared/keytabs/*.keytab
  touch /shared/keytabs/ready
fi
exec krb5kdc -n
