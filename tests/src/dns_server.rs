//! A DNS server of a test's own, for reverse-DNS tests inside a private
//! network and mount namespace (where it can listen on 127.0.0.1:53 and a
//! bind-mounted `/etc/resolv.conf` points the resolver at it): PTR and A
//! records from two tables, NXDOMAIN for every other name, over UDP. Only
//! what glibc's stub resolver asks (one question per query) is understood.

use std::collections::HashMap;
use std::net::{Ipv4Addr, UdpSocket};

use anyhow::{Context, Result};

/// The records the server answers with.
#[derive(Debug, Clone, Default)]
pub struct Zone {
    /// Address to the name its PTR record gives.
    pub ptr: HashMap<Ipv4Addr, String>,
    /// Name to its A records.
    pub a: HashMap<String, Vec<Ipv4Addr>>,
}

const TYPE_A: u16 = 1;
const TYPE_PTR: u16 = 12;

/// Binds 127.0.0.1:53 and answers from `zone` on a thread until the process
/// ends.
pub fn serve(zone: Zone) -> Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:53").context("binding 127.0.0.1:53 (needs root, in a network namespace)")?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if let Some(reply) = answer(&zone, &buf[..n]) {
                let _ = socket.send_to(&reply, from);
            }
        }
    });
    Ok(())
}

/// The response to one query, or `None` for what is not a query.
fn answer(zone: &Zone, query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 || u16::from_be_bytes([query[4], query[5]]) != 1 {
        return None;
    }
    let (name, end) = read_name(query, 12)?;
    let qtype = u16::from_be_bytes([*query.get(end)?, *query.get(end + 1)?]);
    let question = query.get(12..end + 4)?;
    let name = name.to_ascii_lowercase();
    let mut answers: Vec<(u16, Vec<u8>)> = Vec::new();
    let known = match ptr_address(&name) {
        Some(ip) => match zone.ptr.get(&ip) {
            Some(target) => {
                if qtype == TYPE_PTR {
                    answers.push((TYPE_PTR, encode_name(target)));
                }
                true
            }
            None => false,
        },
        None => match zone.a.get(&name) {
            Some(ips) => {
                if qtype == TYPE_A {
                    answers.extend(ips.iter().map(|ip| (TYPE_A, ip.octets().to_vec())));
                }
                true
            }
            None => false,
        },
    };
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&query[..2]);
    // QR, the query's RD, RA; NXDOMAIN for names we do not have.
    out.extend_from_slice(&[0x80 | (query[2] & 0x01), if known { 0x80 } else { 0x83 }]);
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for (kind, data) in answers {
        out.extend_from_slice(&[0xc0, 12]); // the question's name
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes()); // IN
        out.extend_from_slice(&0u32.to_be_bytes()); // TTL
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    Some(out)
}

/// The dotted name at `at` (no compression: queries have none) and where it ends.
fn read_name(msg: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    loop {
        let len = *msg.get(at)? as usize;
        at += 1;
        if len == 0 {
            return Some((labels.join("."), at));
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(msg.get(at..at + len)?).into_owned());
        at += len;
    }
}

fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// The address of a `d.c.b.a.in-addr.arpa` name.
fn ptr_address(name: &str) -> Option<Ipv4Addr> {
    let digits = name.strip_suffix(".in-addr.arpa")?;
    let mut octets: Vec<u8> = digits.split('.').map(|d| d.parse().ok()).collect::<Option<_>>()?;
    if octets.len() != 4 {
        return None;
    }
    octets.reverse();
    Some(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]))
}
