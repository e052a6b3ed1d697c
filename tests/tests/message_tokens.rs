//! Our RFC 4121 wrap tokens against MIT's, on real context pairs from a real
//! KDC: what one makes, the other must take, in both directions, both modes,
//! with and without an acceptor subkey, for each AES-SHA1 enctype; other
//! enctypes stay with MIT's own code.

use std::io::Write;
use std::time::Duration;

use gsslog_tests::daemon::Daemon;
use gsslog_tests::net::free_port;
use gsslog_tests::realm::{TestRealm, SHARED_CLIENT};
use gsswire::cfx::CfxContext;
use gsswire::gss::{flags, SecurityContext};
use gsswire::krb5_crypto::{ENCTYPE_AES128_CTS_HMAC_SHA1_96, ENCTYPE_AES256_CTS_HMAC_SHA1_96};

const WAIT: Duration = Duration::from_secs(20);

fn context_pair(target: &str, req_flags: u32) -> (SecurityContext, SecurityContext) {
    gsslog_tests::client::context_pair(target, req_flags).unwrap()
}

fn messages() -> Vec<Vec<u8>> {
    let batch: Vec<u8> = (0..200).flat_map(|i| format!("<38>Nov 23 12:00:00 node1 sshd[{i}]: msg {i}\n").into_bytes()).collect();
    vec![b"".to_vec(), b"x".to_vec(), b"<13>Nov 23 12:00:00 node1 test: sixteen+".to_vec(), batch]
}

/// `ours` speaks with exported keys, `theirs` stays an MIT context; tokens go
/// both ways, sealed and not, and then tampered ones are refused by MIT (last,
/// since a refused token leaves a gap in the sequence that MIT then reports).
fn exchange(mut ours: CfxContext, theirs: &mut SecurityContext) {
    for seal in [true, false] {
        for msg in messages() {
            let token = ours.wrap(&msg, seal);
            let unwrapped = theirs.unwrap(&token).unwrap_or_else(|e| panic!("MIT refused our token (seal={seal}, {} bytes): {e}", msg.len()));
            assert_eq!(unwrapped, (msg.clone(), seal), "seal={seal}");
            let back = theirs.wrap(seal, &msg).unwrap();
            let (plain, sealed) = ours.unwrap(&back).expect("we unwrap MIT's token");
            assert_eq!((plain, sealed), (msg.clone(), seal));
        }
    }
    for seal in [true, false] {
        let mut bad = ours.wrap(b"tampered", seal);
        let at = bad.len() - 13;
        bad[at] ^= 1;
        let err = theirs.unwrap(&bad).expect_err("MIT must refuse a tampered token");
        assert!(err.major & 0x00ff_0000 != 0, "a routine error, not only a gap: {err:?} (seal={seal})");
    }
}

/// `enctype` is the session key's; with mutual authentication MIT's acceptor
/// negotiates its subkey's enctype from the initiator's list (aes256 here).
fn check_both_sides(target: &str, enctype: i32) {
    for req in [flags::MUTUAL | flags::CONF | flags::INTEG, flags::MUTUAL | flags::REPLAY | flags::SEQUENCE | flags::CONF | flags::INTEG, flags::CONF | flags::INTEG] {
        // Our initiator against MIT's acceptor.
        let (init, mut acc) = context_pair(target, req);
        if req & flags::MUTUAL == 0 {
            assert_eq!(init.message_enctype().unwrap(), enctype);
        }
        let keys = init.export_message_keys().unwrap();
        assert_eq!(keys.context_key.enctype, enctype);
        assert_eq!(keys.acceptor_subkey.is_some(), req & flags::MUTUAL != 0, "acceptor subkey iff mutual, flags {req:#x}");
        exchange(CfxContext::new(&keys).unwrap(), &mut acc);
        // MIT's initiator against our acceptor.
        let (mut init, acc) = context_pair(target, req);
        let keys = acc.export_message_keys().unwrap();
        exchange(CfxContext::new(&keys).unwrap(), &mut init);
    }
}

#[test]
fn aes256_tokens_interoperate_with_mit() {
    TestRealm::shared();
    check_both_sides("host@localhost", ENCTYPE_AES256_CTS_HMAC_SHA1_96);
}

#[test]
fn aes128_tokens_interoperate_with_mit() {
    let realm = TestRealm::shared();
    realm.add_service_with_enctype("host/aes128.localhost", "aes128-cts-hmac-sha1-96").unwrap();
    check_both_sides("host@aes128.localhost", ENCTYPE_AES128_CTS_HMAC_SHA1_96);
}

/// Whatever flags the initiator asked for (stock rsyslog asks for neither
/// replay nor sequence detection).
#[test]
fn replayed_mit_token_is_refused() {
    TestRealm::shared();
    for req in [flags::MUTUAL | flags::REPLAY | flags::SEQUENCE | flags::CONF | flags::INTEG, flags::MUTUAL | flags::CONF] {
        let (mut init, acc) = context_pair("host@localhost", req);
        let mut ours = CfxContext::new(&acc.export_message_keys().unwrap()).unwrap();
        let token = init.wrap(true, b"once").unwrap();
        assert_eq!(ours.unwrap(&token).unwrap().0, b"once");
        let err = ours.unwrap(&token).unwrap_err();
        assert!(err.to_string().contains("sequence"), "{err}");
    }
}

fn with_krb5_config(mut env: Vec<(String, String)>, conf: &std::path::Path) -> Vec<(String, String)> {
    for (k, v) in env.iter_mut() {
        if k == "KRB5_CONFIG" {
            *v = conf.display().to_string();
        }
    }
    env
}

/// MIT reports a replayed token as a supplementary status bit, not an error
/// code; our binding must still refuse it.
#[test]
fn replayed_token_is_refused_by_mit_too() {
    TestRealm::shared();
    let req = flags::MUTUAL | flags::REPLAY | flags::SEQUENCE | flags::CONF | flags::INTEG;
    let (init, mut acc) = context_pair("host@localhost", req);
    let mut ours = CfxContext::new(&init.export_message_keys().unwrap()).unwrap();
    let token = ours.wrap(b"once", true);
    assert_eq!(acc.unwrap(&token).unwrap(), (b"once".to_vec(), true));
    let err = acc.unwrap(&token).unwrap_err();
    assert!(err.major & 0x2 != 0, "duplicate token bit expected: {err:?}");
}

/// A session whose message key is not AES-SHA1 keeps MIT's per-message code
/// and still works end to end. Both daemons' krb5.conf put
/// aes256-cts-hmac-sha384-192 first among the permitted enctypes, so the
/// collector's acceptor subkey (which protects every message) is of that type.
#[test]
fn other_enctypes_stay_with_mit() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let conf = std::fs::read_to_string(realm.krb5_conf()).unwrap().replace(
        "[libdefaults]",
        "[libdefaults]\n permitted_enctypes = aes256-cts-hmac-sha384-192 aes256-cts-hmac-sha1-96",
    );
    let sha2_conf = dir.path().join("krb5-sha2.conf");
    std::fs::write(&sha2_conf, conf).unwrap();
    let collector_env = with_krb5_config(realm.server_env(), &sha2_conf);
    let shipper_env = with_krb5_config(realm.client_env(SHARED_CLIENT), &sha2_conf);
    ship_one_message(dir.path(), collector_env, shipper_env, "mit");
}

/// The escape hatch: `GSSLOG_MIT_MESSAGE_TOKENS` keeps MIT's code on an
/// AES-SHA1 session; and without it the same daemons use ours.
#[test]
fn mit_message_tokens_on_request() {
    let realm = TestRealm::shared();
    let force = |mut env: Vec<(String, String)>| {
        env.push(("GSSLOG_MIT_MESSAGE_TOKENS".into(), "1".into()));
        env
    };
    let dir = tempfile::tempdir().unwrap();
    ship_one_message(&dir.path().join("forced"), force(realm.server_env()), force(realm.client_env(SHARED_CLIENT)), "mit");
    ship_one_message(&dir.path().join("default"), realm.server_env(), realm.client_env(SHARED_CLIENT), "gsslog");
}

/// Our shipper sends one message to our collector; both must log that their
/// session's message tokens are `expected`'s, and the message must arrive.
fn ship_one_message(dir: &std::path::Path, collector_env: Vec<(String, String)>, shipper_env: Vec<(String, String)>, expected: &str) {
    let port = free_port().unwrap();
    let out = dir.join("received.log");
    let collector_conf = format!("$ModLoad imgssapi\n$InputGSSServerRun {port}\n$template Msg,\"%msg%\\n\"\n*.* {};Msg\n", out.display());
    let mut collector = Daemon::start("imgssapi", &dir.join("collector"), &collector_conf, &collector_env, &["-x"]).unwrap();
    collector.wait_for_log("collector running", WAIT).unwrap();
    let tcp = free_port().unwrap();
    let work = dir.join("work");
    let shipper_conf = format!("*.* :omgssapi:localhost:{port}\n");
    let args = ["--work-directory", work.to_str().unwrap(), "--tcp", &format!("127.0.0.1:{tcp}")];
    let mut shipper = Daemon::start("omgssapi", &dir.join("shipper"), &shipper_conf, &shipper_env, &args).unwrap();
    shipper.wait_for_log("shipper running", WAIT).unwrap();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", tcp)).unwrap();
    s.write_all(b"<13>Nov 23 12:00:00 node1 app: one message\n").unwrap();
    drop(s);
    let logged = format!("message_tokens=\"{expected}\"");
    collector.wait_for_log(&logged, WAIT).unwrap();
    shipper.wait_for_log(&logged, WAIT).unwrap();
    let start = std::time::Instant::now();
    while !std::fs::read_to_string(&out).unwrap_or_default().contains("one message") {
        assert!(start.elapsed() < WAIT, "message did not arrive\n{}\n{}", collector.log(), shipper.log());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// MIT's gss_unwrap rotates integrity-only tokens and zeroes their EC and RRC
/// in place; the token the caller handed over (a shared slice) must come back
/// as it was, so the binding has to give MIT a copy.
#[test]
fn mit_unwrap_leaves_the_callers_token_untouched() {
    TestRealm::shared();
    let (mut init, mut acc) = context_pair("host@localhost", flags::MUTUAL | flags::CONF | flags::INTEG);
    for seal in [false, true] {
        let mut token = init.wrap(seal, b"<13>Nov 23 12:00:00 node1 app: in place?").unwrap();
        // A rotated body makes MIT move every byte after the header.
        token[6..8].copy_from_slice(&5u16.to_be_bytes());
        token[16..].rotate_right(5);
        let before = token.clone();
        let shared: &[u8] = &token;
        assert_eq!(acc.unwrap(shared).unwrap().0, b"<13>Nov 23 12:00:00 node1 app: in place?");
        assert_eq!(token, before, "seal={seal}: MIT wrote into the caller's token");
    }
}
