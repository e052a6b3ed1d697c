//! A file truncated or replaced since it was sealed: grep and cat show it
//! as it is now, the next seal stores its content as a new generation, and
//! the earlier generation stays readable (`cat --generation`).

mod common;

use std::fs;

use common::*;

#[test]
fn truncated_and_replaced_files_are_searched_as_they_are_and_sealed_as_new_generations() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (live, reference, archive) = (dir.path().join("live"), dir.path().join("reference"), dir.path().join("archive"));
    make_tree(&live, 2, 200);
    seal(&archive, &live, &[]);
    let truncated = "2026/10/10.0.0.1/auth.log";
    let replaced = "2026/10/10.0.0.2/syslog";
    let first_truncated = fs::read(live.join(truncated)).unwrap_or_default();
    let first_replaced = fs::read(live.join(replaced)).unwrap_or_default();

    // Truncated in place (same inode), then written again: shorter than sealed.
    write(&live.join(truncated), b"Oct 20 00:00:00 h realuser after truncation\n");
    // Replaced by a new file (new inode) longer than the old one, same first line.
    let mut longer = first_replaced.clone();
    longer.extend_from_slice(b"Oct 21 00:00:00 h realuser in the replacement\n");
    let tmp = live.join("2026/10/10.0.0.2/syslog.new");
    write(&tmp, &longer);
    fs::rename(&tmp, live.join(replaced)).unwrap_or_else(|e| panic!("{e}"));
    copy_tree(&live, &reference);

    assert_grep_matches(&archive, &live, &reference, "truncated and replaced, not sealed again");
    assert_cat_matches(&archive, &live, &reference, "truncated and replaced, not sealed again");
    seal(&archive, &live, &[]);
    assert_grep_matches(&archive, &live, &reference, "sealed again");
    assert_cat_matches(&archive, &live, &reference, "sealed again");

    let manifest = gsslog_archive::store::Archive::open(&archive).map(|a| a.manifest).unwrap_or_default();
    for rel in [truncated, replaced] {
        let gens = manifest.files.get(rel.as_bytes()).map_or(0, |r| r.generations.len());
        assert_eq!(gens, 2, "{rel}: a second generation");
    }
    for (rel, first) in [(truncated, first_truncated), (replaced, first_replaced)] {
        let out = gsslog(&["cat", "--archive", path_str(&archive), "--generation", "1", path_str(&live), rel]);
        assert!(out.status.success() && out.stdout == first, "{rel}: generation 1 is the file as it was");
    }
}
