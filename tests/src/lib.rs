//! Helpers for the end-to-end tests: a throwaway MIT Kerberos realm on
//! loopback ([`realm`]), Debian's real rsyslogd as a peer ([`rsyslog`]), and
//! a tampering proxy between a shipper and a collector ([`proxy`]), `strace`
//! attached to a daemon as an outside witness ([`strace`]), and a DNS server
//! with a test's own records ([`dns_server`]).
//!
//! Nothing here depends on the machine's own `/etc/krb5.conf`: every process a
//! test starts gets its Kerberos environment from a [`realm::TestRealm`].

pub mod clickhouse;
pub mod client;
pub mod daemon;
pub mod differential;
pub mod dns_server;
pub mod net;
pub mod proxy;
pub mod realm;
pub mod relay;
pub mod rsyslog;
pub mod strace;
