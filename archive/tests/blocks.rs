//! Chunks are read block by block: a search for a rare word decompresses
//! only the blocks that hold it, and still prints exactly what GNU grep
//! prints over the tree.

mod common;

use std::os::unix::fs::FileExt;

use common::*;

#[test]
fn grep_equals_gnu_grep_on_files_of_many_blocks() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (live, reference, archive) = (dir.path().join("live"), dir.path().join("reference"), dir.path().join("archive"));
    // About 300 KiB a file: five blocks or more, so words are posted by block.
    make_tree(&live, 21, 4000);
    copy_tree(&live, &reference);
    seal(&archive, &live, &["--dictionary-min-bytes", "0"]);
    let a = gsslog_archive::store::Archive::open(&archive).unwrap_or_else(|e| panic!("{e}"));
    let most = a.manifest.files.values().flat_map(|r| &r.generations).flat_map(|g| &g.chunks).map(|c| c.blocks.len()).max();
    assert!(most >= Some(5), "files of several blocks: {most:?}");
    assert!(
        a.manifest.files.values().flat_map(|r| &r.generations).flat_map(|g| &g.chunks).any(|c| c.dict_len > 0),
        "compressed with a dictionary"
    );
    assert_grep_matches(&archive, &live, &reference, "files of many blocks");
    assert_cat_matches(&archive, &live, &reference, "files of many blocks");
}

#[test]
fn a_rare_word_reads_only_its_block_so_damage_elsewhere_in_the_chunk_does_not_touch_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (root, archive) = (dir.path().join("root"), dir.path().join("archive"));
    let mut rng = Rng::new(5);
    let mut text = String::new();
    for i in 0..6000 {
        if i == 100 {
            text.push_str("Oct 20 10:00:00 10.0.0.1 sshd[7]: planted qv4hx7jz here\n");
        }
        text.push_str(&line(&mut rng, 10, 20, "10.0.0.1"));
        text.push('\n');
    }
    write(&root.join("2026/10/10.0.0.1/big.log"), text.as_bytes());
    seal(&archive, &root, &[]);

    // Damage the chunk's last block (the planted line is in its first).
    let a = gsslog_archive::store::Archive::open(&archive).unwrap_or_else(|e| panic!("{e}"));
    let chunk = &a.manifest.files[&b"2026/10/10.0.0.1/big.log".to_vec()].generations[0].chunks[0];
    assert!(chunk.blocks.len() >= 5, "{} blocks", chunk.blocks.len());
    let (offset, _, block) = chunk.block_offsets().last().unwrap_or_else(|| panic!("no blocks"));
    let pack = gsslog_archive::store::pack::pack_path(&archive.join("packs"), chunk.pack);
    let file = std::fs::OpenOptions::new().read(true).write(true).open(&pack).unwrap_or_else(|e| panic!("{e}"));
    let at = offset + u64::from(block.stored_len) / 2;
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, at).unwrap_or_else(|e| panic!("{e}"));
    file.write_all_at(&[byte[0] ^ 0x55], at).unwrap_or_else(|e| panic!("{e}"));
    drop(file);
    std::fs::remove_file(root.join("2026/10/10.0.0.1/big.log")).unwrap_or_else(|e| panic!("{e}"));

    let (out, status) = our_grep(&archive, &root, &["-F"], "qv4hx7jz");
    assert_eq!(String::from_utf8_lossy(&out), "2026/10/10.0.0.1/big.log:Oct 20 10:00:00 10.0.0.1 sshd[7]: planted qv4hx7jz here\n");
    assert_eq!(status, 0, "the damaged block was not read");
    // A word in every block reads the damaged one too, and says so.
    let (_, status) = our_grep(&archive, &root, &["-c"], "sshd");
    assert_eq!(status, 2, "a search that reads the damaged block reports it");
}
