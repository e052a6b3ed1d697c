//! The README's demo command keeps working: it runs end to end, shows the
//! tree, seals it and searches and reports on the archive.

#[test]
fn the_demo_runs_and_shows_the_per_host_tree() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_demo")).arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for file in ["/127.0.0.1/auth.log", "/127.0.0.1/kern.log", "/127.0.0.1/syslog", "/127.0.0.2/auth.log", "/127.0.0.2/syslog"] {
        assert!(stdout.lines().any(|l| l.starts_with("--- ") && l.ends_with(file)), "{file} missing:\n{stdout}");
    }
    assert!(stdout.contains("node2 sshd[99]: Failed password"), "{stdout}");
    // The packaged config's per-service pbs_mom file (issue #22 item 10).
    let pbs = stdout.lines().find(|l| l.starts_with("--- pbs/") && l.contains("/log.")).unwrap_or_else(|| panic!("no pbs/YEAR/MONTH/log.YYYYMMDD:\n{stdout}"));
    let after_pbs = stdout.split(pbs).nth(1).unwrap_or_default();
    assert!(after_pbs.lines().nth(1).is_some_and(|l| l.contains("pbs_mom: Job 4711.headnode started")), "{pbs}:\n{stdout}");
    // gsslog grep -F alice: RELPATH:LINE, from the sealed auth.log of node 1.
    let after = |heading: &str| stdout.split(heading).nth(1).unwrap_or_else(|| panic!("no '{heading}' in:\n{stdout}")).to_string();
    let grep = after("== gsslog grep");
    assert!(
        grep.lines().any(|l| l.contains("/127.0.0.1/auth.log:") && l.contains("Accepted gssapi-with-mic for alice from 192.0.2.7")),
        "{stdout}"
    );
    let logins = after("== gsslog report sshd logins");
    assert!(logins.contains("alice") && logins.contains("alice@EXAMPLE.ORG") && logins.contains("192.0.2.7"), "{stdout}");
    let remotes = after("== gsslog report sshd remote-results-per-day");
    assert!(remotes.contains("203.0.113.9") && remotes.contains("Failed"), "{stdout}");
}
