//! The collector's binary. Everything it does is in the library (`lib.rs`),
//! so that the fuzz targets, the man-page generator and the tests use the
//! same code as crates.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    imgssapi::main()
}
