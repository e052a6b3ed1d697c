# Shared by the role scripts: the realm's krb5.conf and waiting for keytabs.
REALM=GRID.TEST
cat > /etc/krb5.conf <<KRB
[libdefaults]
  default_realm = $REALM
  dns_lookup_kdc = false
  dns_lookup_realm = false
  dns_canonicalize_hostname = false
  rdns = false
  udp_preference_limit = 1
[realms]
  $REALM = {
    kdc = kdc.grid.test:88
  }
[domain_realm]
  .grid.test = $REALM
KRB
wait_for_keytabs() {
  for _ in $(seq 1 300); do [ -f /shared/keytabs/ready ] && return 0; sleep 0.2; done
  echo "no keytabs from the KDC" >&2; exit 1
}
