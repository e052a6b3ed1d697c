//! The C declarations of MIT's `libgssapi_krb5` that [`super`] uses: types,
//! constants and functions as in `<gssapi/gssapi.h>`, `<gssapi/gssapi_krb5.h>`
//! and `<gssapi/gssapi_ext.h>`, and three of `libkrb5` (`<krb5.h>`). Nothing here is safe to call directly; the
//! safe binding around it is the parent module.

#![allow(non_camel_case_types)]

use std::ffi::c_void;

/// The C API's 32-bit unsigned integer (status codes, flags, lengths).
pub type OM_uint32 = u32;
/// Opaque handles: owned by the caller that received them, released with
/// the matching `gss_release_*` or `gss_delete_sec_context`.
pub type gss_name_t = *mut c_void;
pub type gss_cred_id_t = *mut c_void;
pub type gss_ctx_id_t = *mut c_void;

/// A length and a pointer. Buffers the library fills are the caller's to
/// release with `gss_release_buffer`.
#[repr(C)]
pub struct gss_buffer_desc {
    pub length: usize,
    pub value: *mut c_void,
}

#[repr(C)]
pub struct gss_OID_desc {
    pub length: OM_uint32,
    pub elements: *mut c_void,
}
pub type gss_OID = *mut gss_OID_desc;

#[repr(C)]
pub struct gss_OID_set_desc {
    pub count: usize,
    pub elements: gss_OID,
}

#[repr(C)]
pub struct gss_buffer_set_desc {
    pub count: usize,
    pub elements: *mut gss_buffer_desc,
}

// The lucid structures are read through a pointer the library returns: their
// layouts must match `<gssapi/gssapi_krb5.h>` field for field.

/// One key of a lucid context; `data` is `length` bytes owned by the context.
#[repr(C)]
pub struct gss_krb5_lucid_key_t {
    pub type_: OM_uint32,
    pub length: OM_uint32,
    pub data: *mut c_void,
}

#[repr(C)]
pub struct gss_krb5_rfc1964_keydata_t {
    pub sign_alg: OM_uint32,
    pub seal_alg: OM_uint32,
    pub ctx_key: gss_krb5_lucid_key_t,
}

#[repr(C)]
pub struct gss_krb5_cfx_keydata_t {
    pub have_acceptor_subkey: OM_uint32,
    pub ctx_key: gss_krb5_lucid_key_t,
    pub acceptor_subkey: gss_krb5_lucid_key_t,
}

/// Version 1 of a lucid context. `version` must stay first: it is read
/// before the rest of the layout is known. `protocol` 0 means `rfc1964_kd`
/// is filled in, 1 means `cfx_kd` is.
#[repr(C)]
pub struct gss_krb5_lucid_context_v1_t {
    pub version: OM_uint32,
    pub initiate: OM_uint32,
    pub endtime: OM_uint32,
    pub send_seq: u64,
    pub recv_seq: u64,
    pub protocol: OM_uint32,
    pub rfc1964_kd: gss_krb5_rfc1964_keydata_t,
    pub cfx_kd: gss_krb5_cfx_keydata_t,
}

/// One `key = value` of a credential store (`<gssapi/gssapi_ext.h>`).
#[repr(C)]
pub struct gss_key_value_element_desc {
    pub key: *const std::ffi::c_char,
    pub value: *const std::ffi::c_char,
}

#[repr(C)]
pub struct gss_key_value_set_desc {
    pub count: OM_uint32,
    pub elements: *mut gss_key_value_element_desc,
}

pub const GSS_C_GSS_CODE: i32 = 1;
pub const GSS_C_MECH_CODE: i32 = 2;
pub const GSS_C_INDEFINITE: OM_uint32 = 0xffff_ffff;
pub const GSS_C_INITIATE: i32 = 1;
pub const GSS_C_ACCEPT: i32 = 2;
pub const GSS_S_CONTINUE_NEEDED: OM_uint32 = 1;
pub const LUCID_VERSION: OM_uint32 = 1;

#[link(name = "gssapi_krb5")]
extern "C" {
    pub static GSS_C_NT_HOSTBASED_SERVICE: gss_OID;
    pub static GSS_C_INQ_SSPI_SESSION_KEY: gss_OID;
    pub static gss_mech_krb5: gss_OID;
    pub static GSS_KRB5_NT_PRINCIPAL_NAME: gss_OID;

    pub fn gss_import_name(
        minor: *mut OM_uint32,
        input: *mut gss_buffer_desc,
        name_type: gss_OID,
        output: *mut gss_name_t,
    ) -> OM_uint32;
    pub fn gss_release_name(minor: *mut OM_uint32, name: *mut gss_name_t) -> OM_uint32;
    pub fn gss_display_name(
        minor: *mut OM_uint32,
        name: gss_name_t,
        output: *mut gss_buffer_desc,
        name_type: *mut gss_OID,
    ) -> OM_uint32;
    pub fn gss_release_buffer(minor: *mut OM_uint32, buffer: *mut gss_buffer_desc) -> OM_uint32;
    pub fn gss_release_buffer_set(minor: *mut OM_uint32, set: *mut *mut gss_buffer_set_desc) -> OM_uint32;
    pub fn gss_acquire_cred_from(
        minor: *mut OM_uint32,
        name: gss_name_t,
        time_req: OM_uint32,
        mechs: *mut gss_OID_set_desc,
        usage: i32,
        store: *const gss_key_value_set_desc,
        cred: *mut gss_cred_id_t,
        actual_mechs: *mut *mut gss_OID_set_desc,
        time_rec: *mut OM_uint32,
    ) -> OM_uint32;
    pub fn gss_release_cred(minor: *mut OM_uint32, cred: *mut gss_cred_id_t) -> OM_uint32;
    pub fn gss_init_sec_context(
        minor: *mut OM_uint32,
        cred: gss_cred_id_t,
        ctx: *mut gss_ctx_id_t,
        target: gss_name_t,
        mech: gss_OID,
        req_flags: OM_uint32,
        time_req: OM_uint32,
        bindings: *mut c_void,
        input: *mut gss_buffer_desc,
        actual_mech: *mut gss_OID,
        output: *mut gss_buffer_desc,
        ret_flags: *mut OM_uint32,
        time_rec: *mut OM_uint32,
    ) -> OM_uint32;
    pub fn gss_accept_sec_context(
        minor: *mut OM_uint32,
        ctx: *mut gss_ctx_id_t,
        cred: gss_cred_id_t,
        input: *mut gss_buffer_desc,
        bindings: *mut c_void,
        src_name: *mut gss_name_t,
        mech: *mut gss_OID,
        output: *mut gss_buffer_desc,
        ret_flags: *mut OM_uint32,
        time_rec: *mut OM_uint32,
        delegated: *mut gss_cred_id_t,
    ) -> OM_uint32;
    pub fn gss_delete_sec_context(
        minor: *mut OM_uint32,
        ctx: *mut gss_ctx_id_t,
        output: *mut gss_buffer_desc,
    ) -> OM_uint32;
    pub fn gss_wrap(
        minor: *mut OM_uint32,
        ctx: gss_ctx_id_t,
        conf_req: i32,
        qop: OM_uint32,
        input: *mut gss_buffer_desc,
        conf_state: *mut i32,
        output: *mut gss_buffer_desc,
    ) -> OM_uint32;
    pub fn gss_unwrap(
        minor: *mut OM_uint32,
        ctx: gss_ctx_id_t,
        input: *mut gss_buffer_desc,
        output: *mut gss_buffer_desc,
        conf_state: *mut i32,
        qop_state: *mut OM_uint32,
    ) -> OM_uint32;
    pub fn gss_display_status(
        minor: *mut OM_uint32,
        status: OM_uint32,
        status_type: i32,
        mech: gss_OID,
        message_context: *mut OM_uint32,
        output: *mut gss_buffer_desc,
    ) -> OM_uint32;
    pub fn gss_inquire_sec_context_by_oid(
        minor: *mut OM_uint32,
        ctx: gss_ctx_id_t,
        object: gss_OID,
        data_set: *mut *mut gss_buffer_set_desc,
    ) -> OM_uint32;
    pub fn gss_export_sec_context(
        minor: *mut OM_uint32,
        ctx: *mut gss_ctx_id_t,
        token: *mut gss_buffer_desc,
    ) -> OM_uint32;
    pub fn gss_import_sec_context(
        minor: *mut OM_uint32,
        token: *mut gss_buffer_desc,
        ctx: *mut gss_ctx_id_t,
    ) -> OM_uint32;
    pub fn gss_krb5_export_lucid_sec_context(
        minor: *mut OM_uint32,
        ctx: *mut gss_ctx_id_t,
        version: OM_uint32,
        lucid: *mut *mut c_void,
    ) -> OM_uint32;
    pub fn gss_krb5_free_lucid_sec_context(minor: *mut OM_uint32, lucid: *mut c_void) -> OM_uint32;
}

/// `krb5_context` and `krb5_ccache` of `<krb5.h>`: opaque handles.
pub type krb5_context = *mut c_void;
pub type krb5_ccache = *mut c_void;

// The few `libkrb5` calls GSS-API has no equivalent for: destroying a
// credential cache that an initiator credential was given, and the default
// realm (the collector's own, for host binding).
#[link(name = "krb5")]
extern "C" {
    pub fn krb5_init_context(context: *mut krb5_context) -> i32;
    pub fn krb5_free_context(context: krb5_context);
    pub fn krb5_cc_resolve(context: krb5_context, name: *const std::ffi::c_char, cache: *mut krb5_ccache) -> i32;
    pub fn krb5_cc_destroy(context: krb5_context, cache: krb5_ccache) -> i32;
    pub fn krb5_get_default_realm(context: krb5_context, realm: *mut *mut std::ffi::c_char) -> i32;
    pub fn krb5_free_default_realm(context: krb5_context, realm: *mut std::ffi::c_char);
}
