//! The line matcher against GNU grep itself (`LC_ALL=C grep -E`, with and
//! without `-w`, `-i`, `-F`) on random lines and random patterns over a
//! small alphabet, where word boundaries, case, anchors, classes and
//! repetitions meet often.

mod common;

use std::process::Command;

use common::Rng;
use gsslog_archive::grep::matcher::{Matcher, Mode};

const ALPHABET: &[u8] = b"abAB_ .-1";

fn random_line(rng: &mut Rng) -> Vec<u8> {
    (0..rng.below(12)).map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize]).collect()
}

fn random_pattern(rng: &mut Rng) -> String {
    let atoms = ["a", "b", "A", "_", " ", "\\.", ".", "[ab]", "[^a ]", "(a|b_)", "1", "-", "\\w", "\\bb", "a\\>"];
    let mut p = String::new();
    if rng.below(6) == 0 {
        p.push('^');
    }
    for _ in 0..1 + rng.below(3) {
        p.push_str(atoms[rng.below(atoms.len() as u64) as usize]);
        match rng.below(6) {
            0 => p.push('*'),
            1 => p.push('+'),
            2 => p.push('?'),
            _ => {}
        }
    }
    if rng.below(6) == 0 {
        p.push('$');
    }
    p
}

#[test]
fn the_matcher_selects_the_lines_gnu_grep_selects_on_random_patterns() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("lines");
    let mut rng = Rng::new(99);
    let lines: Vec<Vec<u8>> = (0..300).map(|_| random_line(&mut rng)).collect();
    let mut compared = 0;
    for round in 0..200 {
        // Every other round, the last line has no newline.
        let mut text = lines.join(&b'\n');
        if round % 2 == 0 {
            text.push(b'\n');
        }
        std::fs::write(&file, &text).unwrap_or_else(|e| panic!("{e}"));
        let pattern = random_pattern(&mut rng);
        for (flags, mode) in [
            (vec!["-E"], Mode::default()),
            (vec!["-E", "-w"], Mode { word: true, ..Mode::default() }),
            (vec!["-E", "-i"], Mode { ignore_case: true, ..Mode::default() }),
            (vec!["-E", "-w", "-i"], Mode { word: true, ignore_case: true, ..Mode::default() }),
            (vec!["-F", "-w"], Mode { word: true, fixed: true, ..Mode::default() }),
        ] {
            let out = Command::new("grep").env("LC_ALL", "C").args(&flags).arg("-n").arg("-e").arg(&pattern).arg(&file).output();
            let out = out.unwrap_or_else(|e| panic!("grep: {e}"));
            if out.status.code() == Some(2) {
                continue; // grep refuses it too: nothing to compare
            }
            let theirs: Vec<usize> = String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.split(':').next()?.parse().ok()).collect();
            let matcher = match Matcher::new(&pattern, mode) {
                Ok(m) => m,
                Err(e) => panic!("{pattern:?} {flags:?}: grep takes it, we refuse it: {e}"),
            };
            let mut ours = Vec::new();
            let mut number = 0;
            // Line numbers of our matches, from the line starts.
            let starts: Vec<usize> = std::iter::once(0).chain(text.iter().enumerate().filter(|(_, &b)| b == b'\n').map(|(i, _)| i + 1)).collect();
            matcher.for_each_line(&text, |line| {
                let offset = line.as_ptr() as usize - text.as_ptr() as usize;
                while starts[number] < offset {
                    number += 1;
                }
                ours.push(number + 1);
                true
            });
            assert_eq!(ours, theirs, "pattern {pattern:?} with {flags:?}");
            compared += 1;
        }
    }
    assert!(compared > 800, "only {compared} comparisons");
}
