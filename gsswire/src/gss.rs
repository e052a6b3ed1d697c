//! A small, safe binding to MIT Kerberos' GSS-API library (`libgssapi_krb5`):
//! only what rsyslog's protocol needs. Context establishment, names and
//! credentials stay with MIT; once a context is complete its message keys and
//! sequence numbers can be exported ([`SecurityContext::export_message_keys`])
//! so that per-message tokens are made in [`crate::cfx`], as the Linux
//! kernel's RPCSEC_GSS does with contexts that `gssd` set up.
//!
//! Every handle is owned by one Rust value and released in its `Drop`.
//! Buffers that the library may write to (`gss_unwrap` rotates and zeroes
//! fields of the token in place, as may `gss_import_sec_context`) are owned
//! copies; the other inputs are only read (RFC 2744). Buffers that carry key
//! material (the session key from `GSS_C_INQ_SSPI_SESSION_KEY`, exported
//! contexts) are wiped before they are released.
//!
//! The types: [`Name`] (an imported service name), [`Credential`] (an
//! acceptor's keytab credential), [`SecurityContext`] (one side of a context,
//! stepped to completion, then used for `gss_wrap`/`gss_unwrap` or handed
//! over), [`ExportedContext`] (a serialised context) and [`MessageKeys`]
//! with its [`LucidKey`]s (what [`crate::cfx`] protects messages with).
//! Failures are [`GssStatus`] values. Context steps may block (an
//! initiator's first step talks to the KDC, an acceptor's steps read the
//! keytab and write the replay cache): async callers run them on a blocking
//! pool.

use std::ffi::{c_void, CString};
use std::ptr;
use std::time::{Duration, Instant};

use zeroize::{Zeroize, Zeroizing};

use crate::error::GssStatus;

mod sys;

/// Context flags (RFC 2744 `GSS_C_*_FLAG`): requested by an initiator in
/// [`SecurityContext::initiate_step`], granted as
/// [`SecurityContext::flags`]. The replay and sequence flags govern only MIT's
/// own per-message checks; [`crate::cfx`] demands the exact next sequence
/// number whatever was granted.
pub mod flags {
    /// Mutual authentication: the acceptor proves itself to the initiator.
    pub const MUTUAL: u32 = 2;
    /// MIT's `gss_unwrap` reports replayed tokens.
    pub const REPLAY: u32 = 4;
    /// MIT's `gss_unwrap` reports reordered and left-out tokens.
    pub const SEQUENCE: u32 = 8;
    /// Confidentiality: tokens can be sealed (rsyslog's `$GssMode encryption`).
    pub const CONF: u32 = 16;
    /// Integrity: tokens carry a checksum (rsyslog's `$GssMode integrity`).
    pub const INTEG: u32 = 32;
    /// The initiator is anonymous; acceptors here refuse such contexts.
    pub const ANON: u32 = 64;
}

/// Status bits (RFC 2744): routine and calling errors in the high 16 bits,
/// supplementary information (duplicate, old, unsequenced, gap) below.
pub mod status_bits {
    /// Calling errors (bits 24..32) and routine errors (bits 16..24): a
    /// status with any of these set is a failed call.
    pub const ERRORS: u32 = 0xffff_0000;
    /// Supplementary information: continue-needed (`0x1`), duplicate
    /// (`0x2`), old (`0x4`), unsequenced (`0x8`) and gap (`0x10`) tokens.
    /// This binding counts any of them on a `gss_unwrap` as a failure.
    pub const SUPPLEMENTARY: u32 = 0x0000_ffff;
}

/// Builds a [`GssStatus`] from a failed call, with MIT's own words for both codes.
fn status(major: u32, minor: u32) -> GssStatus {
    let mut text = display_status(major, sys::GSS_C_GSS_CODE);
    if minor != 0 {
        text.push_str(": ");
        text.push_str(&display_status(minor, sys::GSS_C_MECH_CODE));
    }
    GssStatus { major, minor, message: text }
}

fn display_status(code: u32, kind: i32) -> String {
    let mut parts = Vec::new();
    let mut message_context = 0u32;
    loop {
        let mut minor = 0;
        let mut buf = empty_buffer();
        // SAFETY: all pointers are valid for the call; buf is released below.
        let major = unsafe {
            sys::gss_display_status(&mut minor, code, kind, ptr::null_mut(), &mut message_context, &mut buf)
        };
        if major != 0 {
            break;
        }
        parts.push(String::from_utf8_lossy(buffer_bytes(&buf)).into_owned());
        // SAFETY: buf was filled by the library.
        unsafe { sys::gss_release_buffer(&mut minor, &mut buf) };
        if message_context == 0 || parts.len() > 8 {
            break;
        }
    }
    if parts.is_empty() {
        format!("status {code:#x}")
    } else {
        parts.join("; ")
    }
}

fn empty_buffer() -> sys::gss_buffer_desc {
    sys::gss_buffer_desc { length: 0, value: ptr::null_mut() }
}

/// For the inputs that the library only reads (names, context tokens,
/// messages to wrap); the cast away from const is the C API's.
fn input_buffer(bytes: &[u8]) -> sys::gss_buffer_desc {
    sys::gss_buffer_desc { length: bytes.len(), value: bytes.as_ptr() as *mut c_void }
}

/// For the inputs that the library may write to: `bytes` must be a copy the
/// caller owns and does not read as the original afterwards.
fn writable_buffer(bytes: &mut [u8]) -> sys::gss_buffer_desc {
    sys::gss_buffer_desc { length: bytes.len(), value: bytes.as_mut_ptr() as *mut c_void }
}

fn buffer_bytes(buf: &sys::gss_buffer_desc) -> &[u8] {
    if buf.value.is_null() || buf.length == 0 {
        &[]
    } else {
        // SAFETY: the library guarantees `value` points to `length` bytes.
        unsafe { std::slice::from_raw_parts(buf.value as *const u8, buf.length) }
    }
}

/// Copies a library-owned buffer out and releases it.
fn take_buffer(mut buf: sys::gss_buffer_desc) -> Vec<u8> {
    let bytes = buffer_bytes(&buf).to_vec();
    release_buffer(&mut buf);
    bytes
}

/// As [`take_buffer`], for buffers holding key material: the copy is wiped
/// when dropped and the library's buffer before it is released.
fn take_secret_buffer(mut buf: sys::gss_buffer_desc) -> Zeroizing<Vec<u8>> {
    let bytes = Zeroizing::new(buffer_bytes(&buf).to_vec());
    wipe_buffer(&mut buf);
    release_buffer(&mut buf);
    bytes
}

fn wipe_buffer(buf: &mut sys::gss_buffer_desc) {
    if !buf.value.is_null() && buf.length != 0 {
        // SAFETY: the library allocated `length` bytes at `value` for the
        // caller, which owns them until it releases the buffer; no other
        // reference to them exists.
        unsafe { std::slice::from_raw_parts_mut(buf.value as *mut u8, buf.length) }.zeroize();
    }
}

fn release_buffer(buf: &mut sys::gss_buffer_desc) {
    let mut minor = 0;
    if !buf.value.is_null() {
        // SAFETY: buf was filled by the library and is released once (the
        // call sets it to empty).
        unsafe { sys::gss_release_buffer(&mut minor, buf) };
    }
}

fn krb5_mech_set() -> sys::gss_OID_set_desc {
    // SAFETY: gss_mech_krb5 is a constant exported by the library.
    sys::gss_OID_set_desc { count: 1, elements: unsafe { sys::gss_mech_krb5 } }
}

/// A GSS name (`service@host` or a principal), released when dropped.
pub struct Name {
    raw: sys::gss_name_t,
}

// SAFETY: an MIT name is a heap record with no tie to the thread that
// imported it; it is released once, in Drop, from whichever thread owns it.
unsafe impl Send for Name {}
// SAFETY: through `&Name` the handle is only passed as an input that the
// library only reads (display, acquire, init_sec_context): MIT names are
// immutable once imported, so sharing them across threads is sound.
unsafe impl Sync for Name {}

impl Name {
    /// Imports a host-based service name such as `host@collector.example.org`
    /// (a bare `host` means that service on any host). Needs no KDC; fails
    /// (`BAD_NAME`) only on text the library cannot parse.
    pub fn host_based_service(text: &str) -> Result<Name, GssStatus> {
        // SAFETY: GSS_C_NT_HOSTBASED_SERVICE is a constant the library exports.
        Name::import(text, unsafe { sys::GSS_C_NT_HOSTBASED_SERVICE })
    }

    /// Imports a Kerberos principal name such as `host/node.example.org@REALM`
    /// (`GSS_KRB5_NT_PRINCIPAL_NAME`: no host-based canonicalisation).
    pub fn principal(text: &str) -> Result<Name, GssStatus> {
        // SAFETY: GSS_KRB5_NT_PRINCIPAL_NAME is a constant the library exports.
        Name::import(text, unsafe { sys::GSS_KRB5_NT_PRINCIPAL_NAME })
    }

    fn import(text: &str, name_type: sys::gss_OID) -> Result<Name, GssStatus> {
        let mut buf = input_buffer(text.as_bytes());
        let mut minor = 0;
        let mut raw = ptr::null_mut();
        // SAFETY: buf points into `text`, alive for the call; name_type is one
        // of the library's constant OIDs; raw is released in Drop.
        let major = unsafe { sys::gss_import_name(&mut minor, &mut buf, name_type, &mut raw) };
        if major != 0 {
            return Err(status(major, minor));
        }
        Ok(Name { raw })
    }

    fn display(raw: sys::gss_name_t) -> Result<String, GssStatus> {
        let mut minor = 0;
        let mut buf = empty_buffer();
        // SAFETY: raw is a live name; buf is taken below.
        let major = unsafe { sys::gss_display_name(&mut minor, raw, &mut buf, ptr::null_mut()) };
        if major != 0 {
            return Err(status(major, minor));
        }
        Ok(String::from_utf8_lossy(&take_buffer(buf)).into_owned())
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let mut minor = 0;
        // SAFETY: raw was returned by gss_import_name and is released once.
        unsafe { sys::gss_release_name(&mut minor, &mut self.raw) };
    }
}

/// An acceptor credential from the keytab (`KRB5_KTNAME`, else the default
/// keytab), shareable across threads and sessions.
pub struct Credential {
    raw: sys::gss_cred_id_t,
}

// SAFETY: a credential record has no tie to the thread that acquired it; it
// is released once, in Drop, from whichever thread owns it.
unsafe impl Send for Credential {}
// SAFETY: MIT's credential records carry their own lock; accepting on
// several contexts with one credential at once is supported.
unsafe impl Sync for Credential {}

impl Credential {
    /// Acquires the Kerberos acceptor credential for `name` from the keytab.
    /// Fails when the keytab cannot be read or holds no key for `name`.
    pub fn acceptor(name: &Name) -> Result<Credential, GssStatus> {
        Credential::acquire(Some(name), sys::GSS_C_ACCEPT, &[])
    }

    /// Acquires an initiator credential: for `name` (or MIT's default
    /// principal when `None`), with MIT's credential-store keys (`store`,
    /// such as `client_keytab` and `ccache`) in place of the environment's.
    /// With an empty store this is `gss_acquire_cred`, the environment
    /// (`KRB5_CLIENT_KTNAME`, `KRB5CCNAME`) deciding.
    pub fn initiator(name: Option<&Name>, store: &[(&str, &str)]) -> Result<Credential, GssStatus> {
        Credential::acquire(name, sys::GSS_C_INITIATE, store)
    }

    /// `gss_acquire_cred_from` for `usage`; an empty store is the default one
    /// (the environment's), which makes it `gss_acquire_cred`.
    fn acquire(name: Option<&Name>, usage: i32, store: &[(&str, &str)]) -> Result<Credential, GssStatus> {
        let texts: Vec<(CString, CString)> = store
            .iter()
            .map(|(k, v)| Ok((CString::new(*k)?, CString::new(*v)?)))
            .collect::<Result<_, std::ffi::NulError>>()
            .map_err(|_| GssStatus { major: 0, minor: 0, message: "a credential-store value contains a NUL byte".into() })?;
        let mut elements: Vec<sys::gss_key_value_element_desc> = texts
            .iter()
            .map(|(k, v)| sys::gss_key_value_element_desc { key: k.as_ptr(), value: v.as_ptr() })
            .collect();
        let set = sys::gss_key_value_set_desc { count: elements.len() as u32, elements: elements.as_mut_ptr() };
        let mut mechs = krb5_mech_set();
        let mut minor = 0;
        let mut raw = ptr::null_mut();
        let name_raw = name.map_or(ptr::null_mut(), |n| n.raw);
        let store_ptr: *const sys::gss_key_value_set_desc = if elements.is_empty() { ptr::null() } else { &set };
        // SAFETY: every pointer is valid for the call: the store's strings
        // live in `texts` and its elements in `elements`, both alive until
        // after it; a null store means the default one; raw is released in Drop.
        let major = unsafe {
            sys::gss_acquire_cred_from(
                &mut minor,
                name_raw,
                sys::GSS_C_INDEFINITE,
                &mut mechs,
                usage,
                store_ptr,
                &mut raw,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        if major != 0 {
            return Err(status(major, minor));
        }
        Ok(Credential { raw })
    }
}

/// Destroys the credential cache named `name` (such as `MEMORY:x`), and the
/// tickets in it. Errors are ignored: a cache that is gone is what is wanted.
pub fn destroy_ccache(name: &str) {
    let Ok(name) = CString::new(name) else { return };
    let mut context: sys::krb5_context = ptr::null_mut();
    // SAFETY: context is an out-pointer; on success it is freed below.
    if unsafe { sys::krb5_init_context(&mut context) } != 0 || context.is_null() {
        return;
    }
    let mut cache: sys::krb5_ccache = ptr::null_mut();
    // SAFETY: context is live; name is a NUL-terminated string alive for the
    // call; cache is an out-pointer, consumed by krb5_cc_destroy (which
    // closes the handle whether or not it succeeds).
    unsafe {
        if sys::krb5_cc_resolve(context, name.as_ptr(), &mut cache) == 0 && !cache.is_null() {
            sys::krb5_cc_destroy(context, cache);
        }
        sys::krb5_free_context(context);
    }
}

/// This machine's default realm (`default_realm` in krb5.conf, or what MIT
/// derives without it); `None` when there is none.
pub fn default_realm() -> Option<String> {
    let mut context: sys::krb5_context = ptr::null_mut();
    // SAFETY: context is an out-pointer; on success it is freed below.
    if unsafe { sys::krb5_init_context(&mut context) } != 0 || context.is_null() {
        return None;
    }
    let mut realm: *mut std::ffi::c_char = ptr::null_mut();
    // SAFETY: context is live; realm is an out-pointer that, on success, holds
    // a NUL-terminated string owned by us until krb5_free_default_realm,
    // which is called once, before the context is freed.
    unsafe {
        let found = if sys::krb5_get_default_realm(context, &mut realm) == 0 && !realm.is_null() {
            let text = std::ffi::CStr::from_ptr(realm).to_string_lossy().into_owned();
            sys::krb5_free_default_realm(context, realm);
            Some(text)
        } else {
            None
        };
        sys::krb5_free_context(context);
        found.filter(|r| !r.is_empty())
    }
}

impl Drop for Credential {
    fn drop(&mut self) {
        let mut minor = 0;
        // SAFETY: raw came from gss_acquire_cred_from and is released once.
        unsafe { sys::gss_release_cred(&mut minor, &mut self.raw) };
    }
}

/// One side of a security context, in establishment or complete. It owns the
/// library's context handle and deletes it when dropped; [`export`] and
/// [`export_message_keys`] consume it instead.
///
/// [`export`]: SecurityContext::export
/// [`export_message_keys`]: SecurityContext::export_message_keys
pub struct SecurityContext {
    raw: sys::gss_ctx_id_t,
    complete: bool,
    flags: u32,
    peer: Option<String>,
    /// When the context stops being valid (its ticket's end time), as the
    /// library told it at completion; `None` for an indefinite context.
    expires: Option<Instant>,
}

// SAFETY: a context is used by one thread at a time (`&mut self`) and MIT's
// contexts hold no thread-local state.
unsafe impl Send for SecurityContext {}

impl SecurityContext {
    /// A context not started yet: the first [`initiate_step`] or
    /// [`accept_step`] creates the library's side of it.
    ///
    /// [`initiate_step`]: SecurityContext::initiate_step
    /// [`accept_step`]: SecurityContext::accept_step
    pub fn new() -> SecurityContext {
        SecurityContext { raw: ptr::null_mut(), complete: false, flags: 0, peer: None, expires: None }
    }

    /// One initiator step towards `target` with the default credential,
    /// asking for `req_flags` (see [`flags`]): `input` is the acceptor's last
    /// token (none at first). Returns the token to send to the peer, if any.
    /// The first step gets a service ticket, so it may block on the KDC.
    /// After an error the context is unusable.
    pub fn initiate_step(&mut self, target: &Name, req_flags: u32, input: Option<&[u8]>) -> Result<Option<Vec<u8>>, GssStatus> {
        self.initiate_step_as(None, target, req_flags, input)
    }

    /// [`SecurityContext::initiate_step`] with `credential` (the default
    /// credential when `None`).
    pub fn initiate_step_as(
        &mut self,
        credential: Option<&Credential>,
        target: &Name,
        req_flags: u32,
        input: Option<&[u8]>,
    ) -> Result<Option<Vec<u8>>, GssStatus> {
        let cred = credential.map_or(ptr::null_mut(), |c| c.raw);
        let mut in_buf = input.map(input_buffer);
        let in_ptr = in_buf.as_mut().map_or(ptr::null_mut(), |b| b as *mut _);
        let mut out = empty_buffer();
        let mut minor = 0;
        let mut ret_flags = 0;
        let mut time_rec = 0;
        // SAFETY: every pointer is valid for the call; the context handle is
        // owned by self, the credential (or none) outlives the call, the
        // output buffer is taken below.
        let major = unsafe {
            sys::gss_init_sec_context(
                &mut minor,
                cred,
                &mut self.raw,
                target.raw,
                sys::gss_mech_krb5,
                req_flags,
                0,
                ptr::null_mut(),
                in_ptr,
                ptr::null_mut(),
                &mut out,
                &mut ret_flags,
                &mut time_rec,
            )
        };
        let output = take_buffer(out);
        self.finish_step(major, minor, ret_flags, time_rec)?;
        Ok((!output.is_empty()).then_some(output))
    }

    /// One acceptor step on the initiator's token. Returns the token to send
    /// back, if any. Reads the keytab and writes the replay cache, so it may
    /// block on the disk. After an error the context is unusable.
    pub fn accept_step(&mut self, credential: &Credential, input: &[u8]) -> Result<Option<Vec<u8>>, GssStatus> {
        let mut in_buf = input_buffer(input);
        let mut out = empty_buffer();
        let mut minor = 0;
        let mut ret_flags = 0;
        let mut src_name: sys::gss_name_t = ptr::null_mut();
        let mut time_rec = 0;
        // SAFETY: as in initiate_step; src_name is released below.
        let major = unsafe {
            sys::gss_accept_sec_context(
                &mut minor,
                &mut self.raw,
                credential.raw,
                &mut in_buf,
                ptr::null_mut(),
                &mut src_name,
                ptr::null_mut(),
                &mut out,
                &mut ret_flags,
                &mut time_rec,
                ptr::null_mut(),
            )
        };
        let output = take_buffer(out);
        if !src_name.is_null() {
            self.peer = Some(Name::display(src_name).unwrap_or_else(|e| format!("<unknown principal: {e}>")));
            let mut ignored = 0;
            // SAFETY: src_name was returned by the call above and is released once.
            unsafe { sys::gss_release_name(&mut ignored, &mut src_name) };
        }
        self.finish_step(major, minor, ret_flags, time_rec)?;
        Ok((!output.is_empty()).then_some(output))
    }

    fn finish_step(&mut self, major: u32, minor: u32, ret_flags: u32, time_rec: u32) -> Result<(), GssStatus> {
        // Complete or continue-needed; anything else, supplementary bits
        // included, is a failure of the step.
        if major != 0 && major != sys::GSS_S_CONTINUE_NEEDED {
            return Err(status(major, minor));
        }
        self.complete = major == 0;
        self.flags = ret_flags;
        if self.complete {
            self.expires = (time_rec != sys::GSS_C_INDEFINITE)
                .then(|| Instant::now() + Duration::from_secs(u64::from(time_rec)));
        }
        Ok(())
    }

    /// When a complete context expires, as MIT tells it at completion: the
    /// ticket's end time (on an acceptor plus the clock skew allowance,
    /// `clockskew`, 5 min by default); `None` when the context is indefinite.
    pub fn expires(&self) -> Option<Instant> {
        self.expires
    }

    /// Whether the last step completed the context; only a complete context
    /// wraps, unwraps and exports.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Flags granted by the peer (see [`flags`]), as of the last step.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// The initiator's principal, on an acceptor once a step has named it;
    /// `None` on an initiator.
    pub fn peer(&self) -> Option<&str> {
        self.peer.as_deref()
    }

    /// MIT's `gss_wrap` of `plaintext` into one token, sealed when `encrypt`,
    /// else integrity-only. The context must be complete.
    pub fn wrap(&mut self, encrypt: bool, plaintext: &[u8]) -> Result<Vec<u8>, GssStatus> {
        let mut input = input_buffer(plaintext);
        let mut out = empty_buffer();
        let mut minor = 0;
        // SAFETY: raw is a complete context; out is taken below.
        let major = unsafe {
            sys::gss_wrap(&mut minor, self.raw, encrypt as i32, 0, &mut input, ptr::null_mut(), &mut out)
        };
        let token = take_buffer(out);
        if major != 0 {
            return Err(status(major, minor));
        }
        Ok(token)
    }

    /// MIT's `gss_unwrap`: the plaintext and whether the token was sealed.
    /// Supplementary status bits count as failures too (a duplicate, old,
    /// unsequenced or gap token is refused): see [`status_bits`].
    pub fn unwrap(&mut self, token: &[u8]) -> Result<(Vec<u8>, bool), GssStatus> {
        // MIT rotates and zeroes parts of the token in place: it gets a copy.
        let mut copy = token.to_vec();
        let mut input = writable_buffer(&mut copy);
        let mut out = empty_buffer();
        let mut minor = 0;
        let mut conf_state = 0;
        // SAFETY: raw is a complete context; input points to `copy`, owned
        // here, alive and not otherwise borrowed for the call, which may
        // write within its length; out is taken below.
        let major = unsafe {
            sys::gss_unwrap(&mut minor, self.raw, &mut input, &mut out, &mut conf_state, ptr::null_mut())
        };
        let plain = take_buffer(out);
        if major != 0 {
            return Err(status(major, minor));
        }
        Ok((plain, conf_state != 0))
    }

    /// Serialises the context (`gss_export_sec_context`), ending this handle.
    /// The result can be imported any number of times, each import a context
    /// in the same state as this one.
    pub fn export(mut self) -> Result<ExportedContext, GssStatus> {
        let mut minor = 0;
        let mut token = empty_buffer();
        // SAFETY: raw is a complete context owned by self; the call sets it
        // to no context on success, so Drop does not delete it again; the
        // token buffer is taken (and wiped) below.
        let major = unsafe { sys::gss_export_sec_context(&mut minor, &mut self.raw, &mut token) };
        let token = take_secret_buffer(token);
        if major != 0 {
            return Err(status(major, minor));
        }
        Ok(ExportedContext { token, complete: self.complete, flags: self.flags, peer: self.peer.take(), expires: self.expires })
    }

    /// The Kerberos enctype of the key that protects messages (the acceptor
    /// subkey when there is one), without disturbing the context.
    pub fn message_enctype(&self) -> Result<i32, GssStatus> {
        let mut minor = 0;
        let mut set: *mut sys::gss_buffer_set_desc = ptr::null_mut();
        // SAFETY: raw is a complete context; set is released below.
        let major = unsafe {
            sys::gss_inquire_sec_context_by_oid(&mut minor, self.raw, sys::GSS_C_INQ_SSPI_SESSION_KEY, &mut set)
        };
        if major != 0 {
            return Err(status(major, minor));
        }
        // SAFETY: set is null or a set the library returned: `count` buffers
        // at `elements`, which may be null when `count` is 0.
        let buffers: &mut [sys::gss_buffer_desc] = match unsafe { set.as_mut() } {
            Some(s) if !s.elements.is_null() && s.count != 0 => {
                // SAFETY: as above; the set is ours until released below, and
                // this is the only reference to its buffers.
                unsafe { std::slice::from_raw_parts_mut(s.elements, s.count) }
            }
            _ => &mut [],
        };
        // Buffer 1 is the OID 1.2.840.113554.1.2.2.4 with the enctype as one more arc.
        let enctype = buffers.get(1).and_then(|b| enctype_from_oid(buffer_bytes(b)));
        // Buffer 0 is the raw session key: wiped before it goes back.
        if let Some(key) = buffers.first_mut() {
            wipe_buffer(key);
        }
        if !set.is_null() {
            // SAFETY: set came from the library and is released once.
            unsafe { sys::gss_release_buffer_set(&mut minor, &mut set) };
        }
        enctype.ok_or_else(|| GssStatus {
            major: 0,
            minor: 0,
            message: "the library did not report the session key's enctype".into(),
        })
    }

    /// Hands the context's message keys and sequence numbers over, ending the
    /// MIT context (`gss_krb5_export_lucid_sec_context`).
    pub fn export_message_keys(mut self) -> Result<MessageKeys, GssStatus> {
        let mut minor = 0;
        let mut lucid: *mut c_void = ptr::null_mut();
        // SAFETY: raw is a complete context; the call consumes it (sets it to
        // no context), and lucid is freed below.
        let major = unsafe { sys::gss_krb5_export_lucid_sec_context(&mut minor, &mut self.raw, 1, &mut lucid) };
        if major != 0 {
            return Err(status(major, minor));
        }
        if lucid.is_null() {
            return Err(GssStatus { major: 0, minor: 0, message: "the library exported no lucid context".into() });
        }
        // SAFETY: every lucid context starts with its version number (MIT's
        // gss_krb5_lucid_context_version_t), so the first field can be read
        // before the layout is known.
        let version = unsafe { *(lucid as *const sys::OM_uint32) };
        let keys = if version == sys::LUCID_VERSION {
            // SAFETY: the version says lucid points to a v1 structure, which
            // stays alive until it is freed below.
            Ok(lucid_keys(unsafe { &*(lucid as *const sys::gss_krb5_lucid_context_v1_t) }, self.flags))
        } else {
            Err(GssStatus { major: 0, minor: 0, message: format!("lucid context of version {version}, not 1") })
        };
        // SAFETY: lucid came from the export above and is freed once (MIT
        // wipes the key data).
        unsafe { sys::gss_krb5_free_lucid_sec_context(&mut minor, lucid) };
        keys
    }
}

/// The keys of a v1 lucid context, copied out.
fn lucid_keys(v1: &sys::gss_krb5_lucid_context_v1_t, flags: u32) -> MessageKeys {
    let key = |k: &sys::gss_krb5_lucid_key_t| LucidKey {
        enctype: k.type_ as i32,
        bytes: if k.data.is_null() || k.length == 0 {
            Vec::new()
        } else {
            // SAFETY: the key data is `length` bytes owned by the lucid context.
            unsafe { std::slice::from_raw_parts(k.data as *const u8, k.length as usize) }.to_vec()
        },
    };
    // Protocol 1 is RFC 4121 (cfx_kd filled in), 0 is RFC 1964 (rfc1964_kd).
    let cfx = v1.protocol == 1;
    MessageKeys {
        initiator: v1.initiate != 0,
        send_seq: v1.send_seq,
        recv_seq: v1.recv_seq,
        cfx,
        context_key: key(if cfx { &v1.cfx_kd.ctx_key } else { &v1.rfc1964_kd.ctx_key }),
        acceptor_subkey: (cfx && v1.cfx_kd.have_acceptor_subkey != 0).then(|| key(&v1.cfx_kd.acceptor_subkey)),
        flags,
    }
}

/// A context serialised by [`SecurityContext::export`] (its keys included;
/// wiped when dropped).
pub struct ExportedContext {
    token: Zeroizing<Vec<u8>>,
    complete: bool,
    flags: u32,
    peer: Option<String>,
    expires: Option<Instant>,
}

impl ExportedContext {
    /// A new, complete context in the state the exported one had
    /// (`gss_import_sec_context`).
    pub fn import(&self) -> Result<SecurityContext, GssStatus> {
        let mut copy = Zeroizing::new(self.token.to_vec());
        let mut input = writable_buffer(&mut copy);
        let mut minor = 0;
        let mut raw = ptr::null_mut();
        // SAFETY: input points to `copy`, owned here and alive for the call
        // (which may write within it); raw is owned by the returned value.
        let major = unsafe { sys::gss_import_sec_context(&mut minor, &mut input, &mut raw) };
        if major != 0 {
            return Err(status(major, minor));
        }
        Ok(SecurityContext { raw, complete: self.complete, flags: self.flags, peer: self.peer.clone(), expires: self.expires })
    }
}

impl Default for SecurityContext {
    fn default() -> Self {
        SecurityContext::new()
    }
}

impl Drop for SecurityContext {
    fn drop(&mut self) {
        if !self.raw.is_null() {
            let mut minor = 0;
            // SAFETY: raw is a context this value owns; it is deleted once.
            unsafe { sys::gss_delete_sec_context(&mut minor, &mut self.raw, ptr::null_mut()) };
        }
    }
}

/// A raw Kerberos key from an exported context; wiped when dropped.
pub struct LucidKey {
    /// The Kerberos enctype number (17 and 18 for the AES-SHA1 enctypes of
    /// [`crate::krb5_crypto`]).
    pub enctype: i32,
    /// The key itself, as many bytes as the enctype's keys have.
    pub bytes: Vec<u8>,
}

impl Drop for LucidKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.bytes);
    }
}

/// What a complete krb5 context protects messages with, from
/// [`SecurityContext::export_message_keys`]. Its keys are wiped when dropped.
pub struct MessageKeys {
    /// This side initiated the context.
    pub initiator: bool,
    /// The sequence number of the next token this side sends.
    pub send_seq: u64,
    /// The sequence number the peer's next token carries: its initial one,
    /// as long as the context has received nothing.
    pub recv_seq: u64,
    /// RFC 4121 tokens (all but the DES, 3DES and RC4 enctypes).
    pub cfx: bool,
    /// The context key, the Kerberos session key or the initiator's subkey
    /// (MIT's lucid `ctx_key` for the context's protocol): what protects
    /// messages when there is no acceptor subkey.
    pub context_key: LucidKey,
    /// The acceptor's subkey from the AP-REP, on RFC 4121 contexts that have
    /// one: then it protects every message, in both directions.
    pub acceptor_subkey: Option<LucidKey>,
    /// Context flags as established.
    pub flags: u32,
}

/// The enctype from MIT's session-key OID: the DER body of
/// 1.2.840.113554.1.2.2.4 followed by one base-128 arc.
fn enctype_from_oid(oid: &[u8]) -> Option<i32> {
    const PREFIX: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x04";
    let arc = oid.strip_prefix(PREFIX)?;
    if arc.is_empty() || arc.len() > 5 {
        return None;
    }
    let mut value: u64 = 0;
    for (i, byte) in arc.iter().enumerate() {
        value = (value << 7) | u64::from(byte & 0x7f);
        let last = i == arc.len() - 1;
        if (byte & 0x80 == 0) != last {
            return None;
        }
    }
    i32::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enctype_arc_decodes() {
        let mut oid = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x04".to_vec();
        oid.push(18);
        assert_eq!(enctype_from_oid(&oid), Some(18));
        oid.pop();
        oid.extend_from_slice(&[0x81, 0x00]);
        assert_eq!(enctype_from_oid(&oid), Some(128));
        assert_eq!(enctype_from_oid(b"\x2a\x86"), None);
    }
}
