//! Tampered message tokens against real contexts from the test KDC: our
//! unwrap (`MessageCode::Gsslog`) and MIT's (`MessageCode::Mit`: `gss_unwrap`
//! plus our framing and sequence checks) must both refuse every tampered
//! token, accept every genuine one, and so agree on each.
//!
//! For every case the receiving context is imported afresh from one export
//! (`gss_export_sec_context`), so that both receivers, and a third, raw MIT
//! receiver (`gss_unwrap` alone), start in the same state. Raw MIT is
//! allowed to differ only where it checks less by design: replayed,
//! reordered and left-out tokens when the initiator did not ask for replay
//! and sequence detection (stock rsyslog does not ask), and an ASN.1 wrapper
//! around an RFC 4121 token, which MIT strips. Debian's MIT (1.20.1-2+deb12u5,
//! with the CVE-2024-37370 fix backported) refuses a raised EC by itself; an
//! unpatched build would show up here as a raw-MIT acceptance of a header
//! change and fail the test.

use gsslog_tests::realm::TestRealm;
use gsswire::cfx::{CfxContext, HEADER_LEN};
use gsswire::gss::{flags, ExportedContext, SecurityContext};
use gsswire::{MessageCode, Protection, Session};

type Verdict = Result<Vec<u8>, String>;

/// One case: tokens fed in order to receivers in the initial state.
struct Case {
    name: String,
    tokens: Vec<Vec<u8>>,
    /// What a correct receiver does with each token (it stops at the first refusal).
    accept: Vec<bool>,
    /// Raw MIT may accept this case's refused token by design (see the module docs).
    raw_mit_checks_less: bool,
}

/// Who makes the tokens: our code with the sender's exported keys, or MIT's `gss_wrap`.
#[derive(Debug, Clone, Copy)]
enum Sender {
    Ours,
    Mit,
}

const MESSAGES: [&[u8]; 4] = [
    b"<38>Nov 23 12:00:00 node1 sshd[1]: first line\n<38>Nov 23 12:00:00 node1 sshd[1]: second line\n",
    b"<38>Nov 23 12:00:01 node1 sshd[2]: third\n",
    b"<38>Nov 23 12:00:02 node1 sshd[3]: fourth\n",
    b"<38>Nov 23 12:00:03 node1 sshd[4]: fifth\n",
];

fn tokens_from(sender: SecurityContext, kind: Sender, seal: bool) -> Vec<Vec<u8>> {
    match kind {
        Sender::Ours => {
            let mut cfx = CfxContext::new(&sender.export_message_keys().unwrap()).unwrap();
            MESSAGES.iter().map(|m| cfx.wrap(m, seal)).collect()
        }
        Sender::Mit => {
            let mut ctx = sender;
            MESSAGES.iter().map(|m| ctx.wrap(seal, m).unwrap()).collect()
        }
    }
}

fn set_u16(token: &mut [u8], at: usize, value: u16) {
    token[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

/// The token with RRC set to `rrc` and its body rotated right to match.
fn rotated(token: &[u8], rrc: u16) -> Vec<u8> {
    let mut t = token.to_vec();
    set_u16(&mut t, 6, rrc);
    let len = t.len() - HEADER_LEN;
    t[HEADER_LEN..].rotate_right(usize::from(rrc) % len);
    t
}

/// The token inside a GSS-API ASN.1 wrapper (0x60, length, krb5 mechanism OID).
fn asn1_wrapped(token: &[u8]) -> Vec<u8> {
    let oid = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
    let len = oid.len() + token.len();
    let mut t = vec![0x60];
    if len < 128 {
        t.push(len as u8);
    } else {
        t.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    t.extend_from_slice(&oid);
    t.extend_from_slice(token);
    t
}

fn single(name: String, token: Vec<u8>, accept: bool) -> Case {
    Case { name, tokens: vec![token], accept: vec![accept], raw_mit_checks_less: false }
}

fn cases(t: &[Vec<u8>], own_token: Vec<u8>, seal: bool) -> Vec<Case> {
    let first = &t[0];
    let body_len = first.len() - HEADER_LEN;
    let mut cases = vec![Case {
        name: "genuine tokens in order".into(),
        tokens: t.to_vec(),
        accept: vec![true; t.len()],
        raw_mit_checks_less: false,
    }];
    // Every byte of the clear header, changed in several ways. Only an RRC
    // that rotates the body by a multiple of its length (no change) is
    // accepted.
    for at in 0..HEADER_LEN {
        for mask in [0x01u8, 0x02, 0x04, 0x10, 0x80, 0xff] {
            let mut bad = first.clone();
            bad[at] ^= mask;
            let rrc = u16::from_be_bytes([bad[6], bad[7]]);
            let unchanged = (6..8).contains(&at) && usize::from(rrc) % body_len == 0;
            cases.push(single(format!("header byte {at} ^ {mask:#04x}"), bad, unchanged));
        }
    }
    // RRC with the body rotated to match: accepted.
    for rrc in [1u16, 12, 16, 28, body_len as u16 - 1, body_len as u16 + 5] {
        cases.push(single(format!("RRC {rrc}, body rotated to match"), rotated(first, rrc), true));
    }
    // EC changed alone, and EC and RRC together (body rotated by the new RRC).
    let ec = u16::from_be_bytes([first[4], first[5]]);
    for new_ec in [ec + 1, ec + 12, ec + 16, 0xffff, ec.saturating_sub(1)] {
        if new_ec == ec {
            continue;
        }
        let mut bad = first.clone();
        set_u16(&mut bad, 4, new_ec);
        cases.push(single(format!("EC {ec} -> {new_ec}"), bad, false));
        for rrc in [new_ec, 28] {
            let mut bad = rotated(first, rrc);
            set_u16(&mut bad, 4, new_ec);
            cases.push(single(format!("EC {ec} -> {new_ec} with RRC {rrc} and body rotated"), bad, false));
        }
    }
    // Ciphertext (or clear data) and checksum bytes flipped.
    let len = first.len();
    let mut positions: Vec<usize> = vec![HEADER_LEN, HEADER_LEN + 1, HEADER_LEN + body_len / 2];
    positions.extend(len - 12..len);
    if seal {
        // The sealed header copy sits just before the HMAC.
        positions.extend(len - 12 - HEADER_LEN..len - 12);
    }
    for at in positions {
        let mut bad = first.clone();
        bad[at] ^= 0x01;
        cases.push(single(format!("body byte {at} of {len} flipped"), bad, false));
    }
    // Truncated and extended.
    for keep in [len - 1, len - 12, len - 13, HEADER_LEN + 28, HEADER_LEN + 1, HEADER_LEN, HEADER_LEN - 1, 2, 0] {
        cases.push(single(format!("truncated to {keep} of {len} bytes"), first[..keep].to_vec(), false));
    }
    for extra in [&[0u8][..], &[0xff; 16], &t[1][HEADER_LEN..]] {
        let mut bad = first.clone();
        bad.extend_from_slice(extra);
        cases.push(single(format!("extended by {} bytes", extra.len()), bad, false));
    }
    cases.push(Case { raw_mit_checks_less: true, ..single("inside an ASN.1 wrapper".into(), asn1_wrapped(first), false) });
    // Our own direction's token sent back.
    cases.push(single("reflected (made by the receiving side)".into(), own_token, false));
    // Replayed, reordered, left out: refused whatever the flags.
    let sequence = |name: &str, order: &[usize], accept: &[bool]| Case {
        name: name.into(),
        tokens: order.iter().map(|&i| t[i].clone()).collect(),
        accept: accept.to_vec(),
        raw_mit_checks_less: true,
    };
    cases.push(sequence("replayed", &[0, 1, 1], &[true, true, false]));
    cases.push(sequence("replayed first token later", &[0, 1, 2, 0], &[true, true, true, false]));
    cases.push(sequence("reordered", &[0, 2, 1], &[true, false, false]));
    cases.push(sequence("first token left out", &[1, 2], &[false, false]));
    cases.push(sequence("token left out", &[0, 1, 3], &[true, true, false]));
    cases
}

/// Feeds the tokens until the first refusal, as a session would.
fn feed(tokens: &[Vec<u8>], mut unwrap: impl FnMut(&[u8]) -> Verdict) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    for token in tokens {
        let v = unwrap(token);
        let refused = v.is_err();
        verdicts.push(v);
        if refused {
            break;
        }
    }
    verdicts
}

fn session(receiver: &ExportedContext, code: MessageCode) -> Session {
    let s = Session::from_context(receiver.import().unwrap(), Protection::Encryption, "peer".into(), code).unwrap();
    let expected = if code == MessageCode::Mit { "mit" } else { "gsslog" };
    assert_eq!(s.message_tokens().name(), expected);
    s
}

fn accepted(verdicts: &[Verdict]) -> Vec<bool> {
    verdicts.iter().map(|v| v.is_ok()).collect()
}

fn expected_prefix(accept: &[bool]) -> Vec<bool> {
    let end = accept.iter().position(|a| !a).map_or(accept.len(), |i| i + 1);
    accept[..end].to_vec()
}

/// Runs every case for one configuration; returns the raw-MIT divergences.
fn run_matrix(req: u32, receiver_is_acceptor: bool, sender_kind: Sender, seal: bool) -> Vec<String> {
    let (init, acc) = gsslog_tests::client::context_pair("host@localhost", req).unwrap();
    let (sender, receiver) = if receiver_is_acceptor { (init, acc) } else { (acc, init) };
    let receiver = receiver.export().unwrap();
    let tokens = tokens_from(sender, sender_kind, seal);
    let own_token = session(&receiver, MessageCode::Gsslog).wrap(b"mirror\n").unwrap();
    let config = format!("flags {req:#x}, receiver {}, sender {sender_kind:?}, sealed {seal}", if receiver_is_acceptor { "acceptor" } else { "initiator" });
    let mut raw_divergences = Vec::new();
    for case in cases(&tokens, own_token, seal) {
        let mut ours = session(&receiver, MessageCode::Gsslog);
        let mut mit = session(&receiver, MessageCode::Mit);
        let mut raw = receiver.import().unwrap();
        let ours_v = feed(&case.tokens, |t| ours.unwrap(t).map(|u| u.data).map_err(|e| e.to_string()));
        let mit_v = feed(&case.tokens, |t| mit.unwrap(t).map(|u| u.data).map_err(|e| e.to_string()));
        let raw_v = feed(&case.tokens, |t| raw.unwrap(t).map(|(d, _)| d).map_err(|e| e.to_string()));
        let want = expected_prefix(&case.accept);
        let at = format!("{config}, case '{}': ours {ours_v:?}\nMIT path {mit_v:?}", case.name);
        assert_eq!(accepted(&ours_v), want, "ours: {at}");
        assert_eq!(accepted(&mit_v), want, "MIT path: {at}");
        // Agreement on the data too: what is accepted is the message sent.
        for (i, (o, m)) in ours_v.iter().zip(&mit_v).enumerate() {
            if let (Ok(o), Ok(m)) = (o, m) {
                assert_eq!(o, m, "data differs at token {i}: {at}");
            }
        }
        if accepted(&raw_v) != want {
            assert!(case.raw_mit_checks_less, "raw MIT differs where it must not: {at}\nraw MIT {raw_v:?}");
            raw_divergences.push(format!("{config}: '{}': raw MIT {:?}", case.name, accepted(&raw_v)));
        }
    }
    raw_divergences
}

fn run_all(req: u32) -> Vec<String> {
    let mut divergences = Vec::new();
    for receiver_is_acceptor in [true, false] {
        for sender in [Sender::Ours, Sender::Mit] {
            for seal in [true, false] {
                divergences.extend(run_matrix(req, receiver_is_acceptor, sender, seal));
            }
        }
    }
    for d in &divergences {
        eprintln!("{d}");
    }
    divergences
}

/// Stock rsyslog's flags: mutual authentication, so an acceptor subkey, and
/// neither replay nor sequence detection. Raw MIT then lets replays,
/// reordering and gaps through; our code and our MIT path do not.
#[test]
fn tampered_tokens_refused_with_acceptor_subkey_and_no_sequence_flags() {
    TestRealm::shared();
    let divergences = run_all(flags::MUTUAL | flags::CONF | flags::INTEG);
    assert!(divergences.iter().any(|d| d.contains("'replayed'")), "raw MIT was expected to accept a replay here");
}

/// No mutual authentication: no acceptor subkey, messages under the context key.
#[test]
fn tampered_tokens_refused_without_acceptor_subkey() {
    TestRealm::shared();
    run_all(flags::CONF | flags::INTEG);
}

/// Our shipper's flags: replay and sequence detection asked, so raw MIT
/// refuses out-of-order tokens too and differs only on the ASN.1 wrapper.
#[test]
fn tampered_tokens_refused_with_sequence_flags() {
    TestRealm::shared();
    let divergences = run_all(flags::MUTUAL | flags::REPLAY | flags::SEQUENCE | flags::CONF | flags::INTEG);
    for d in &divergences {
        assert!(d.contains("ASN.1 wrapper"), "raw MIT with sequence flags should refuse out-of-order tokens: {d}");
    }
}

/// The collector logs `unwrap failed: {error}`: the text must name the cause.
#[test]
fn refusals_name_their_cause() {
    TestRealm::shared();
    let (mut init, acc) = gsslog_tests::client::context_pair("host@localhost", flags::MUTUAL | flags::CONF | flags::INTEG).unwrap();
    let receiver = acc.export().unwrap();
    let tokens: Vec<Vec<u8>> = MESSAGES.iter().map(|m| init.wrap(true, m).unwrap()).collect();
    for code in [MessageCode::Gsslog, MessageCode::Mit] {
        let mut s = session(&receiver, code);
        s.unwrap(&tokens[0]).unwrap();
        let replay = s.unwrap(&tokens[0]).unwrap_err().to_string();
        assert!(replay.contains("out of sequence"), "{code:?}: {replay}");
        let mut s = session(&receiver, code);
        let gap = s.unwrap(&tokens[1]).unwrap_err().to_string();
        assert!(gap.contains("out of sequence"), "{code:?}: {gap}");
        let mut s = session(&receiver, code);
        let wrapped = s.unwrap(&asn1_wrapped(&tokens[0])).unwrap_err().to_string();
        assert!(wrapped.contains("not an RFC 4121 wrap token"), "{code:?}: {wrapped}");
    }
    let mut raised = tokens[0].clone();
    set_u16(&mut raised, 4, 7);
    let err = session(&receiver, MessageCode::Gsslog).unwrap(&raised).unwrap_err().to_string();
    assert!(err.contains("header"), "{err}");
    let mut bad_mac = tokens[0].clone();
    let last = bad_mac.len() - 1;
    bad_mac[last] ^= 1;
    let err = session(&receiver, MessageCode::Gsslog).unwrap(&bad_mac).unwrap_err().to_string();
    assert!(err.contains("integrity"), "{err}");
}
