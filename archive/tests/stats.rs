//! `gsslog stats` counts what was sealed and what is not yet.

mod common;

use common::*;

#[test]
fn stats_count_sealed_bytes_lines_and_the_oldest_and_newest_line() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (root, archive) = (dir.path().join("root"), dir.path().join("archive"));
    write(&root.join("2026/10/10.0.0.1/syslog"), b"Oct  3 10:00:00 h a\n2026-10-01T09:08:07+02:00 h b\nno time\n");
    write(&root.join("auth/2026/10/auth.log.20261031"), b"Oct 31 23:59:59 h c\npartial");
    seal(&archive, &root, &[]);
    let out = gsslog(&["stats", "--archive", path_str(&archive), path_str(&root)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for want in [
        "files: 2\n",
        "lines: 4\n",
        "bytes sealed: 78\n",
        "bytes not sealed yet: 7\n",
        "oldest sealed line: 2026-10-01 09:08:07\n",
        "newest sealed line: 2026-10-31 23:59:59\n",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
}
