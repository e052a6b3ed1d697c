//! Operating-system helpers the daemons need, with their `unsafe` in one place.

use std::ffi::CStr;
use std::ops::Range;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

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

/// The name a PTR record gives for `ip` (`getnameinfo` with `NI_NAMEREQD`),
/// or `None` when there is none. Blocking: it may ask DNS.
pub fn reverse_lookup(ip: std::net::IpAddr) -> Option<String> {
    let addr: socket2::SockAddr = std::net::SocketAddr::new(ip, 0).into();
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: addr is a valid sockaddr of the length passed; host is writable
    // for the length passed; NI_NAMEREQD makes "no name" a failure instead of
    // the numeric form.
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
    // SAFETY: on success getnameinfo wrote a NUL-terminated string into host.
    let name = unsafe { CStr::from_ptr(host.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
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

/// Bytes in a TCP socket's send queue that the peer has not acknowledged
/// yet (Linux `SIOCOUTQ`, the same request number as `TIOCOUTQ`).
pub fn unacknowledged_bytes(socket: BorrowedFd<'_>) -> std::io::Result<u64> {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ writes one int through the pointer, which points at the
    // local `n`; the descriptor is borrowed, so it stays open for the call.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(n.max(0) as u64)
}

/// Whether [`take_inherited_fds`] has handed descriptors out already.
static INHERITED_FDS_TAKEN: AtomicBool = AtomicBool::new(false);

/// Owns the descriptors `fds` that the process inherited at exec (systemd's
/// socket activation passes them from fd 3 on), each marked close-on-exec so
/// it does not leak into programs the daemon runs. Once per process: `None`
/// the second time, so that no descriptor ever has two owners. Only for
/// descriptors handed over at exec, which nothing in the process opened.
pub(crate) fn take_inherited_fds(fds: Range<RawFd>) -> Option<Vec<OwnedFd>> {
    if INHERITED_FDS_TAKEN.swap(true, Ordering::SeqCst) {
        return None;
    }
    Some(
        fds.map(|fd| {
            set_cloexec(fd);
            // SAFETY: the descriptor was handed to this process at exec and
            // nothing else in it owns it (the caller's precondition); the
            // flag above makes sure it is wrapped only once, so this OwnedFd
            // is its sole owner.
            unsafe { OwnedFd::from_raw_fd(fd) }
        })
        .collect(),
    )
}

/// Marks `fd` close-on-exec.
fn set_cloexec(fd: RawFd) {
    // SAFETY: fcntl with F_GETFD/F_SETFD only reads and sets the descriptor's
    // flags; on a descriptor that is not open it fails with EBADF and changes
    // nothing.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
        }
    }
}

/// Whether `fd` is a datagram socket, as opposed to a stream one or no
/// socket at all (`getsockopt(SO_TYPE)`).
pub fn is_datagram_socket(fd: BorrowedFd<'_>) -> bool {
    let mut kind: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt(SO_TYPE) writes one c_int into `kind`, whose address
    // and size are passed; the descriptor is borrowed, so it stays open.
    let rc = unsafe {
        libc::getsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TYPE, (&mut kind as *mut libc::c_int).cast(), &mut len)
    };
    rc == 0 && kind == libc::SOCK_DGRAM
}

/// Sends `signal` to this process (for tests of the signal handling).
#[cfg(test)]
pub(crate) fn signal_self(signal: libc::c_int) {
    // SAFETY: kill only sends a signal, to this very process; what it does
    // there is up to the handlers the test installed.
    unsafe { libc::kill(std::process::id() as libc::pid_t, signal) };
}

/// Waits up to `timeout` for `fd` to be readable (`poll`): `Ok(true)` when
/// it is, `Ok(false)` when the time ran out or a signal came.
pub fn wait_readable(fd: BorrowedFd<'_>, timeout: std::time::Duration) -> std::io::Result<bool> {
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: poll reads and writes exactly one pollfd, the local `pfd`, whose
    // address and count (1) are passed; the descriptor is borrowed, so it
    // stays open for the call.
    let rc = unsafe { libc::poll(&mut pfd, 1, millis) };
    match rc {
        n if n > 0 => Ok(true),
        0 => Ok(false),
        _ => {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}

/// An account from the user database (`getpwnam_r` / `getpwuid_r`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The login name.
    pub name: String,
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
}

/// The buffer the reentrant database calls fill; grown on `ERANGE`.
fn lookup_buffer_sizes() -> impl Iterator<Item = usize> {
    (0..8).map(|i| 4096usize << (2 * i))
}

/// The account named `name`; `None` when there is no such user.
pub fn user_by_name(name: &str) -> std::io::Result<Option<User>> {
    let c_name = std::ffi::CString::new(name).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    lookup_user(&mut |pwd, buf, len, result| {
        // SAFETY: c_name is NUL-terminated; pwd, buf (len bytes) and result
        // point at live, writable memory owned by lookup_user for the call.
        unsafe { libc::getpwnam_r(c_name.as_ptr(), pwd, buf, len, result) }
    })
}

/// The account with user id `uid`; `None` when the database has none.
pub fn user_by_id(uid: u32) -> std::io::Result<Option<User>> {
    lookup_user(&mut |pwd, buf, len, result| {
        // SAFETY: as in user_by_name.
        unsafe { libc::getpwuid_r(uid, pwd, buf, len, result) }
    })
}

type PasswdCall<'a> = dyn FnMut(*mut libc::passwd, *mut libc::c_char, usize, *mut *mut libc::passwd) -> libc::c_int + 'a;

fn lookup_user(call: &mut PasswdCall<'_>) -> std::io::Result<Option<User>> {
    for size in lookup_buffer_sizes() {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: passwd is plain old data; all-zero is a valid value.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = call(&mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc == libc::ERANGE {
            continue;
        }
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        if result.is_null() {
            return Ok(None);
        }
        // SAFETY: on success pw_name points at a NUL-terminated string inside
        // buf, which is still alive here.
        let name = unsafe { CStr::from_ptr(pwd.pw_name) }.to_string_lossy().into_owned();
        return Ok(Some(User { name, uid: pwd.pw_uid, gid: pwd.pw_gid }));
    }
    Err(std::io::Error::from_raw_os_error(libc::ERANGE))
}

/// The group id of the group named `name`; `None` when there is no such group.
pub fn group_by_name(name: &str) -> std::io::Result<Option<u32>> {
    let c_name = std::ffi::CString::new(name).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    for size in lookup_buffer_sizes() {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: group is plain old data; all-zero is a valid value.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: c_name is NUL-terminated; grp, buf (its length passed) and
        // result point at live, writable locals for the duration of the call.
        let rc = unsafe { libc::getgrnam_r(c_name.as_ptr(), &mut grp, buf.as_mut_ptr(), buf.len(), &mut result) };
        if rc == libc::ERANGE {
            continue;
        }
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        return Ok((!result.is_null()).then_some(grp.gr_gid));
    }
    Err(std::io::Error::from_raw_os_error(libc::ERANGE))
}

/// The process's real, effective and saved user ids and group ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    /// Real, effective and saved user id.
    pub uids: [u32; 3],
    /// Real, effective and saved group id.
    pub gids: [u32; 3],
}

/// This process's user and group ids (`getresuid`, `getresgid`).
pub fn ids() -> Ids {
    let (mut r, mut e, mut s) = (0, 0, 0);
    let (mut gr, mut ge, mut gs) = (0, 0, 0);
    // SAFETY: each call writes three ids through pointers to the locals above;
    // with valid pointers they cannot fail.
    unsafe {
        libc::getresuid(&mut r, &mut e, &mut s);
        libc::getresgid(&mut gr, &mut ge, &mut gs);
    }
    Ids { uids: [r, e, s], gids: [gr, ge, gs] }
}

/// This process's supplementary groups.
pub fn supplementary_groups() -> std::io::Result<Vec<u32>> {
    // SAFETY: with size 0 getgroups only returns the count, writing nothing.
    let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut groups = vec![0 as libc::gid_t; n as usize];
    // SAFETY: groups has room for n ids, and n is passed as its size.
    let n = unsafe { libc::getgroups(n, groups.as_mut_ptr()) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    groups.truncate(n as usize);
    Ok(groups)
}

/// Sets the supplementary groups: those of `user` in the group database
/// plus `gid` (`initgroups`), or exactly `groups` when no user is given.
/// glibc applies it to every thread of the process.
pub fn set_supplementary_groups(user: Option<&str>, gid: u32, groups: &[u32]) -> std::io::Result<()> {
    let rc = match user {
        Some(name) => {
            let c_name = std::ffi::CString::new(name).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
            // SAFETY: c_name is a NUL-terminated string alive for the call.
            unsafe { libc::initgroups(c_name.as_ptr(), gid) }
        }
        // SAFETY: groups points at groups.len() ids, the count passed.
        None => unsafe { libc::setgroups(groups.len(), groups.as_ptr()) },
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the real, effective and saved group id (`setgid` as root), on every
/// thread (glibc).
pub fn set_gid(gid: u32) -> std::io::Result<()> {
    // SAFETY: setgid has no memory effects.
    if unsafe { libc::setgid(gid) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the real, effective and saved user id (`setuid` as root), on every
/// thread (glibc). Leaving uid 0 this way also clears every capability.
pub fn set_uid(uid: u32) -> std::io::Result<()> {
    // SAFETY: setuid has no memory effects.
    if unsafe { libc::setuid(uid) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
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

    #[test]
    fn unacknowledged_bytes_of_a_socket_and_of_something_else() {
        use std::io::Write;
        use std::os::fd::AsFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, _) = listener.accept().unwrap();
        assert_eq!(unacknowledged_bytes(client.as_fd()).unwrap(), 0, "nothing sent yet");
        client.write_all(&[7u8; 4096]).unwrap();
        // The peer's kernel acknowledges what it received even though nobody
        // reads it; wait (boundedly) until loopback has done so.
        let mut left = u64::MAX;
        for _ in 0..500 {
            left = unacknowledged_bytes(client.as_fd()).unwrap();
            if left == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(left, 0, "loopback acknowledges what its buffer took");
        // A peer that does not read: once the send buffer is full, what it
        // holds cannot have been acknowledged.
        client.set_nonblocking(true).unwrap();
        let chunk = [7u8; 64 * 1024];
        let mut written = 0u64;
        for _ in 0..10_000 {
            match client.write(&chunk) {
                Ok(n) => written += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        let unacked = unacknowledged_bytes(client.as_fd()).unwrap();
        assert!(unacked > 0 && unacked <= written, "{unacked} of {written} bytes unacknowledged");
        let file = tempfile::tempfile().unwrap();
        assert!(unacknowledged_bytes(file.as_fd()).is_err(), "a regular file has no send queue");
    }
}
