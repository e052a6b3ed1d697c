#!/bin/bash
# The collector from our package: installed, configured for the testbed (the
# host keytab, the tree on the host's volume), started from its unit's
# ExecStart as its user with CAP_NET_BIND_SERVICE only, then removed and purged.
# The keytab is the admin's: made as the admin guide says, deleted before the purge.
set -e
. /testbed/pkg-common.sh
wait_for_keytabs
install_package gsslog-collector imgssapi
install -m 0640 -g gsslog-collector /shared/keytabs/collector.keytab /etc/gsslog/collector.keytab
# The testbed's checker reads the tree from the host's volume at /data.
sed -i -e 's#/var/log/hosts#/data/hosts#g' /etc/gsslog/imgssapi.conf
# The realm, as the admin's guide says (the package ships a placeholder).
sed -i 's#@<REALM>#@GRID.TEST#' /etc/gsslog/imgssapi.conf
install -d -m 0750 -o gsslog-collector -g gsslog-collector /data/hosts
/usr/sbin/imgssapi -f /etc/gsslog/imgssapi.conf --check-config
run_unit gsslog-collector.service
trap 'kill -TERM $daemon' TERM
# CAP_NET_BIND_SERVICE is bit 10.
check_identity "$daemon" gsslog-collector 0000000000000400
remove_when_told gsslog-collector
