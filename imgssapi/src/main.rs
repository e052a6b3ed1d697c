//! Placeholder: the daemon is not built yet. The workspace reserves its place
//! so that the folder tree shows the architecture from the start.

fn main() {
    eprintln!("imgssapi: not implemented yet; see README.md, 'Status'");
    std::process::exit(2);
}
