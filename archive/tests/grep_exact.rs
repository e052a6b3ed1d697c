//! `gsslog grep` prints exactly what GNU grep prints over the original tree
//! (C locale, sorted by file as the issue defines), at every stage of an
//! archive's life; `gsslog cat` returns every file byte for byte.

mod common;

use common::*;

#[test]
fn grep_and_cat_equal_gnu_grep_and_the_files_before_and_after_sealing_with_live_tails_and_after_remove_sources() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (live, reference, archive) = (dir.path().join("live"), dir.path().join("reference"), dir.path().join("archive"));
    make_tree(&live, 1, 400);
    copy_tree(&live, &reference);

    assert_grep_matches(&archive, &live, &reference, "nothing sealed");
    seal(&archive, &live, &[]);
    assert_grep_matches(&archive, &live, &reference, "all sealed");
    assert_cat_matches(&archive, &live, &reference, "all sealed");

    // Live tails: lines appended after the seal, one without its newline yet.
    let mut rng = Rng::new(7);
    for rel in files(&reference) {
        let mut more = String::new();
        for _ in 0..rng.below(30) {
            more.push_str(&line(&mut rng, 10, 20, "10.0.0.9"));
            more.push('\n');
        }
        if rng.below(3) == 0 {
            more.push_str("realuser without newline yet");
        }
        append(&live.join(&rel), more.as_bytes());
        append(&reference.join(&rel), more.as_bytes());
    }
    assert_grep_matches(&archive, &live, &reference, "with live tails");
    assert_cat_matches(&archive, &live, &reference, "with live tails");

    // A second seal reads only the new bytes, and removes the closed months.
    let before = gsslog_archive::store::Archive::open(&archive).map(|a| a.manifest).unwrap_or_default();
    seal(&archive, &live, &["--remove-sources"]);
    let after = gsslog_archive::store::Archive::open(&archive).map(|a| a.manifest).unwrap_or_default();
    for (rel, rec) in &after.files {
        assert_eq!(rec.generations.len(), 1, "{}: sealed as one generation", String::from_utf8_lossy(rel));
        let was = before.files.get(rel).and_then(|r| r.generations.last()).map_or(0, |g| g.chunks.len());
        assert!(rec.generations[0].chunks.len() <= was + 1, "{}: one new chunk at most", String::from_utf8_lossy(rel));
    }
    assert!(!live.join("2026/10/10.0.0.1/syslog").exists(), "a closed month's file is removed");
    let (year, month) = this_month();
    assert!(live.join(format!("{year}/{month}/10.0.0.1/syslog")).exists(), "the current month's stays");
    assert_grep_matches(&archive, &live, &reference, "after --remove-sources");
    assert_cat_matches(&archive, &live, &reference, "after --remove-sources");
}

#[test]
fn an_archive_inside_root_is_neither_sealed_nor_searched() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path().join("root");
    make_tree(&root, 8, 50);
    // Spelled another way than ROOT's own path: found by device and inode.
    let archive = root.join("2026/../archive");
    seal(&archive, &root, &[]);
    seal(&archive, &root, &[]);
    let (out, status) = our_grep(&archive, &root, &["-c"], "");
    let text = String::from_utf8_lossy(&out);
    assert_eq!(status, 0);
    assert!(!text.contains("archive/"), "{text}");
    let manifest = gsslog_archive::store::Archive::open(&archive).map(|a| a.manifest).unwrap_or_default();
    assert!(manifest.files.keys().all(|k| !k.starts_with(b"archive/")));
}
