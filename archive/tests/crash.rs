//! A seal killed with SIGKILL at random moments, then run again to the end:
//! nothing partial becomes visible, nothing is sealed twice, nothing is lost.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn a_seal_killed_at_random_moments_then_run_again_loses_nothing_and_seals_nothing_twice() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (live, reference, archive) = (dir.path().join("live"), dir.path().join("reference"), dir.path().join("archive"));
    make_tree(&live, 3, 3000);
    copy_tree(&live, &reference);
    let mut rng = Rng::new(11);
    // Kill within the time a round's seal takes on this machine now (a loaded
    // two-core machine may be ten times slower than a quiet one): measured on
    // a scratch copy, as a round's work is (the tree sealed, then one new file
    // of 3000 lines and an appended line).
    let round_time = {
        let (scratch, scratch_archive) = (dir.path().join("scratch"), dir.path().join("scratch-archive"));
        copy_tree(&live, &scratch);
        seal(&scratch_archive, &scratch, &["--pack-bytes", "20000"]);
        let text: String = (0..3000).map(|_| line(&mut rng, 10, 27, "10.0.0.3") + "\n").collect();
        write(&scratch.join("2026/10/10.0.0.3/timed.log"), text.as_bytes());
        let started = std::time::Instant::now();
        seal(&scratch_archive, &scratch, &["--level", "3", "--pack-bytes", "20000"]);
        started.elapsed()
    };
    let kill_within = (round_time.as_millis() as u64).max(20);
    let (mut killed, mut killed_with_leftovers) = (0, 0);
    // Rounds until three kills landed while a pack was uncommitted (at most 40).
    let mut rounds = 0;
    for round in 0..40 {
        if killed_with_leftovers >= 3 {
            break;
        }
        rounds += 1;
        // Small packs: many commits, so that kills land between them too.
        let spawned = std::time::SystemTime::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gsslog"))
            .args(["seal", "--level", "3", "--pack-bytes", "20000", "--archive", path_str(&archive), path_str(&live)])
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        if round % 2 == 0 {
            // A random moment: kills land between commits too.
            std::thread::sleep(Duration::from_millis(rng.below(kill_within)));
        } else {
            // The moment a pack file is being written (one written since the
            // start): on a loaded machine a random moment may always fall in
            // the process's start-up, before any pack, and test nothing.
            wait_for_a_pack_written_since(&archive.join("packs"), spawned, &mut child);
        }
        let finished = matches!(child.try_wait(), Ok(Some(_)));
        let _ = child.kill();
        let _ = child.wait();
        killed += usize::from(!finished);
        // Files the manifest does not name (a pack being written, or written but not committed).
        let on_disk = std::fs::read_dir(archive.join("packs")).map(|d| d.flatten().count()).unwrap_or(0);
        let named = gsslog_archive::store::Archive::open(&archive).map_or(0, |a| 2 * a.manifest.packs.len());
        killed_with_leftovers += usize::from(on_disk > named);
        // Whatever the moment, what the manifest names reads back whole.
        let out = gsslog(&["verify", "--archive", path_str(&archive), path_str(&live)]);
        assert!(out.status.success(), "round {round}: verify after a kill: {}", String::from_utf8_lossy(&out.stdout));
        // New work for the next run: lines appended, and a new file.
        append(&live.join("2026/10/10.0.0.1/auth.log"), format!("Oct 28 00:00:00 h round {round} realuser\n").as_bytes());
        append(&reference.join("2026/10/10.0.0.1/auth.log"), format!("Oct 28 00:00:00 h round {round} realuser\n").as_bytes());
        let text: String = (0..3000).map(|_| line(&mut rng, 10, 27, "10.0.0.3") + "\n").collect();
        write(&live.join(format!("2026/10/10.0.0.3/round{round}.log")), text.as_bytes());
        write(&reference.join(format!("2026/10/10.0.0.3/round{round}.log")), text.as_bytes());
    }
    seal(&archive, &live, &["--pack-bytes", "20000"]);
    let a = gsslog_archive::store::Archive::open(&archive).unwrap_or_else(|e| panic!("{e}"));
    for (rel, rec) in &a.manifest.files {
        let name = String::from_utf8_lossy(rel);
        assert_eq!(rec.generations.len(), 1, "{name}: one generation");
        let bytes = std::fs::read(live.join(&*name)).unwrap_or_default();
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) as u64;
        assert_eq!(rec.generations[0].sealed, complete, "{name}: every complete line sealed once");
    }
    let names = std::fs::read_dir(archive.join("packs")).map(|d| d.flatten().count()).unwrap_or(0);
    assert_eq!(names, 2 * a.manifest.packs.len(), "no leftover files beside the committed packs");
    assert_grep_matches(&archive, &live, &reference, "after the kills");
    assert_cat_matches(&archive, &live, &reference, "after the kills");
    eprintln!(
        "{killed} of {rounds} runs killed before their end (within {kill_within} ms), {killed_with_leftovers} leaving uncommitted pack files"
    );
    assert!(killed_with_leftovers > 0, "no kill landed while a pack was uncommitted: the test tested nothing");
}

/// Returns once a file in `packs` was modified at or after `since` (a pack
/// being written), once `child` has ended, or after a minute.
fn wait_for_a_pack_written_since(packs: &std::path::Path, since: std::time::SystemTime, child: &mut std::process::Child) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        let written = std::fs::read_dir(packs)
            .map(|d| d.flatten().any(|e| e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t >= since)))
            .unwrap_or(false);
        if written {
            return;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}
