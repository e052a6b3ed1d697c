//! The archive as the reports' source: the tables given back are exactly
//! what `sshd::extract` returned for each sealed chunk, and the tails are
//! the complete lines not sealed yet.

mod common;

use gsslog_archive::report::Source;
use gsslog_archive::source::ArchiveSource;

use common::*;

#[test]
fn tables_are_what_extract_returned_for_each_chunk_and_tails_are_the_unsealed_complete_lines() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (root, archive) = (dir.path().join("root"), dir.path().join("archive"));
    make_tree(&root, 6, 300);
    seal(&archive, &root, &[]);
    let auth = "2026/10/10.0.0.1/auth.log";
    append(&root.join(auth), b"Oct 30 10:00:00 h sshd[1]: Accepted password for bob from 192.0.2.1 port 1 ssh2\nOct 30 10:00:01 h partial");

    let source = ArchiveSource::open(&archive, &root).unwrap_or_else(|e| panic!("{e}"));
    let mut want = Vec::new();
    for (rel, rec) in &source.archive.manifest.files {
        let name = String::from_utf8_lossy(rel).into_owned();
        for c in rec.generations.iter().flat_map(|g| &g.chunks) {
            let lines = source.archive.packs.chunk(c).unwrap_or_else(|e| panic!("{e}"));
            let table = gsslog_archive::sshd::extract(&name, &lines);
            if !table.is_empty() {
                want.push((name.clone(), table));
            }
        }
    }
    let mut got = Vec::new();
    let r = source.for_each_table(&mut |rel, table| {
        got.push((rel.to_string(), table.to_vec()));
        Ok(())
    });
    assert!(r.is_ok());
    assert_eq!(got, want);

    let mut tails = Vec::new();
    let r = source.for_each_tail(&mut |rel, lines| {
        tails.push((rel.to_string(), String::from_utf8_lossy(lines).into_owned()));
        Ok(())
    });
    assert!(r.is_ok());
    // partial.log's tail is a line without newline: no complete line, no call.
    assert_eq!(tails, vec![(auth.to_string(), "Oct 30 10:00:00 h sshd[1]: Accepted password for bob from 192.0.2.1 port 1 ssh2\n".to_string())]);
}
