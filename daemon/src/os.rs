//! Operating-system helpers the daemons need, with their `unsafe` in one place.

use std::ffi::CStr;

/// This host's name as the kernel has it (`gethostname`), possibly with a domain.
pub fn hostname() -> Option<String> {
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: buf is writable for its whole length, which is passed; the last
    // byte stays 0, so the result is NUL-terminated even if the name was cut.
    if unsafe { libc::gethostname(buf.as_mut_ptr(), buf.len() - 1) } != 0 {
        return None;
    }
    // SAFETY: buf holds a NUL-terminated string (see above).
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned();
    (!name.is_empty()).then_some(name)
}

/// The host name without its domain, as rsyslog's `$myhostname`; `localhost`
/// when the system has none.
pub fn short_hostname() -> String {
    hostname()
        .and_then(|h| h.split('.').next().map(str::to_string))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The domain part of this host's name, if it has one.
pub fn local_domain() -> Option<String> {
    hostname()?.split_once('.').map(|(_, d)| d.to_string())
}

/// Raises the soft limit on open files to the hard limit (at most 2^20):
/// thousands of sessions and a cache of thousands of files need more than
/// the usual 1024.
pub fn raise_open_file_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the local struct whose address is passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 || lim.rlim_cur >= lim.rlim_max {
        return;
    }
    lim.rlim_cur = lim.rlim_max.min(1 << 20);
    // SAFETY: setrlimit only reads the local struct whose address is passed.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
}

/// Sets this process's file-creation mask (`$Umask`).
pub fn set_umask(mask: u32) {
    // SAFETY: umask has no memory effects; it only changes the process's mask.
    unsafe { libc::umask(mask as libc::mode_t) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_limits() {
        let short = short_hostname();
        assert!(!short.is_empty() && !short.contains('.'), "{short}");
        raise_open_file_limit();
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: as in raise_open_file_limit.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert!(lim.rlim_cur == lim.rlim_max || lim.rlim_cur == 1 << 20);
    }
}
