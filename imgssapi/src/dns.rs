//! `fromhost`: the peer's name by reverse DNS, as rsyslog derives it (short
//! form when the name is in our own domain, lowercased), or its address.

use std::collections::HashMap;
use std::ffi::CStr;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a looked-up name is reused (rsyslog keeps a DNS cache too).
const CACHE_TTL: Duration = Duration::from_secs(600);
static CACHE: Mutex<Option<HashMap<IpAddr, (String, Instant)>>> = Mutex::new(None);

/// The `fromhost` of a peer. Blocking (it may ask DNS): call it from a
/// blocking thread. With `dns` off (`-x`, as in rsyslog) it is the address.
pub fn fromhost(ip: IpAddr, dns: bool) -> String {
    if !dns {
        return ip.to_string();
    }
    if let Some((name, at)) = CACHE.lock().ok().and_then(|c| c.as_ref()?.get(&ip).cloned()) {
        if at.elapsed() < CACHE_TTL {
            return name;
        }
    }
    let name = match reverse_lookup(ip) {
        Some(name) => shorten(&name.to_ascii_lowercase(), local_domain().as_deref()),
        None => ip.to_string(),
    };
    if let Ok(mut cache) = CACHE.lock() {
        let map = cache.get_or_insert_with(HashMap::new);
        if map.len() > 100_000 {
            map.clear();
        }
        map.insert(ip, (name.clone(), Instant::now()));
    }
    name
}

fn shorten(name: &str, local_domain: Option<&str>) -> String {
    match (name.split_once('.'), local_domain) {
        (Some((host, domain)), Some(local)) if domain.eq_ignore_ascii_case(local) => host.to_string(),
        _ => name.to_string(),
    }
}

fn reverse_lookup(ip: IpAddr) -> Option<String> {
    let addr: socket2::SockAddr = SocketAddr::new(ip, 0).into();
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: addr is a valid sockaddr of the given length; host is a writable
    // buffer of the given size; NI_NAMEREQD makes failure explicit.
    let rc = unsafe {
        libc::getnameinfo(
            addr.as_ptr(),
            addr.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo wrote a NUL-terminated string into host.
    let name = unsafe { CStr::from_ptr(host.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

fn local_domain() -> Option<String> {
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: buf is writable and its length is passed.
    if unsafe { libc::gethostname(buf.as_mut_ptr(), buf.len()) } != 0 {
        return None;
    }
    // SAFETY: gethostname NUL-terminates within the buffer on success.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned();
    name.split_once('.').map(|(_, d)| d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_in_our_domain() {
        assert_eq!(shorten("node1.grid.example", Some("grid.example")), "node1");
        assert_eq!(shorten("node1.other.example", Some("grid.example")), "node1.other.example");
        assert_eq!(shorten("localhost", None), "localhost");
        assert_eq!(fromhost("127.0.0.1".parse().unwrap(), false), "127.0.0.1");
    }
}
