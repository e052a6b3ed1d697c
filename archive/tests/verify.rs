//! `gsslog verify` names a flipped byte in a pack and in a source; a
//! damaged chunk is skipped by grep (named, exit 2), the rest still found.

mod common;

use std::fs;

use common::*;

fn flip(path: &std::path::Path, at: u64) {
    let mut bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes[at as usize] ^= 0x20;
    fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[test]
fn verify_names_a_flipped_byte_in_a_segment_and_in_a_source_and_grep_skips_the_damaged_chunk() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (live, archive) = (dir.path().join("live"), dir.path().join("archive"));
    make_tree(&live, 4, 300);
    // pbs_mom's per-service daily file of the packaged collector config.
    let pbs = "pbs/2026/09/log.20260901";
    write(&live.join(pbs), b"Sep  1 00:00:00 node2 pbs_mom: job 42 started\n");
    seal(&archive, &live, &[]);
    let out = gsslog(&["verify", "--archive", path_str(&archive), path_str(&live)]);
    assert!(out.status.success(), "a fresh archive verifies: {}", String::from_utf8_lossy(&out.stdout));

    // A source byte.
    let source = "2026/09/10.0.0.2/syslog";
    flip(&live.join(source), 5000);
    let out = gsslog(&["verify", "--archive", path_str(&archive), path_str(&live)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(text.contains(&format!("{source}: byte 5000 differs from the archive")), "{text}");
    flip(&live.join(source), 5000);

    // A byte inside a chunk's frame in a pack.
    let a = gsslog_archive::store::Archive::open(&archive).unwrap_or_else(|e| panic!("{e}"));
    let damaged = "2026/10/10.0.0.1/auth.log";
    let chunk = a.manifest.files[damaged.as_bytes()].generations[0].chunks[0].clone();
    let pack = archive.join(format!("packs/{:010}.pack", chunk.pack));
    flip(&pack, chunk.offset + u64::from(chunk.stored_len) / 2);
    let out = gsslog(&["verify", "--archive", path_str(&archive), path_str(&live)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(text.contains(&format!("{damaged}: generation 1 chunk 0")) && text.contains("checksum mismatch"), "{text}");
    assert_eq!(text.lines().count(), 1, "only the damaged chunk is named: {text}");

    // grep names it, skips it, still finds the rest, and exits 2.
    fs::remove_file(live.join(damaged)).unwrap_or_else(|e| panic!("{e}"));
    let out = gsslog(&["grep", "--archive", path_str(&archive), "-c", "sshd", path_str(&live)]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains(damaged) && stderr.contains("skipped"), "{stderr}");
    assert!(stdout.contains("2026/10/10.0.0.2/auth.log:") && !stdout.contains(damaged), "{stdout}");

    // --remove-sources reads a closed month's bytes back before deleting: a
    // damaged chunk keeps its source (named, exit 2); the others go.
    let kept = "2026/09/10.0.0.1/syslog";
    let chunk = a.manifest.files[kept.as_bytes()].generations[0].chunks[0].clone();
    flip(&archive.join(format!("packs/{:010}.pack", chunk.pack)), chunk.offset + 3);
    let out = gsslog(&["seal", "--archive", path_str(&archive), "--remove-sources", path_str(&live)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("kept {kept}")), "{stderr}");
    assert!(live.join(kept).exists(), "a source whose archived bytes do not read back stays");
    assert!(!live.join("2026/09/10.0.0.2/syslog").exists(), "a source verified against the archive goes");
    // The per-service daily files (auth.log.YYYYMMDD, pbs/.../log.YYYYMMDD)
    // are not logrotate's: the nightly seal compresses them into the archive
    // and removes a closed month's, which stays readable byte for byte.
    for daily in ["auth/2026/09/auth.log.20260901", pbs] {
        assert!(!live.join(daily).exists(), "{daily} of a closed month is removed once sealed");
    }
    let out = gsslog(&["cat", "--archive", path_str(&archive), path_str(&live), pbs]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Sep  1 00:00:00 node2 pbs_mom: job 42 started\n");
}
