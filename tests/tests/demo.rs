//! The README's demo command keeps working: it runs end to end and shows the tree.

use gsslog_tests::daemon::bin_path;

#[test]
fn the_demo_runs_and_shows_the_per_host_tree() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin_path("demo").unwrap()).arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for file in ["/127.0.0.1/auth.log", "/127.0.0.1/kern.log", "/127.0.0.1/syslog", "/127.0.0.2/auth.log", "/127.0.0.2/syslog"] {
        assert!(stdout.lines().any(|l| l.starts_with("--- ") && l.ends_with(file)), "{file} missing:\n{stdout}");
    }
    assert!(stdout.contains("node2 sshd[99]: Failed password"), "{stdout}");
}
