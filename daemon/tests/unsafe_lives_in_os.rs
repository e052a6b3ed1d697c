//! The daemons' OS calls that need `unsafe` live in `src/os.rs`, as the
//! crate's documentation says: a reviewer reads that one file. Any other
//! file of the crate that says `unsafe` (outside comments) fails this test.

#[test]
fn only_os_rs_says_unsafe() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    let mut os_has_it = false;
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let says_unsafe = text.lines().map(|l| l.split("//").next().unwrap_or("")).any(|code| {
            code.split(|c: char| !c.is_alphanumeric() && c != '_').any(|word| word == "unsafe")
        });
        if path.file_name().is_some_and(|n| n == "os.rs") {
            os_has_it = says_unsafe;
        } else if says_unsafe {
            offenders.push(path.display().to_string());
        }
    }
    assert!(os_has_it, "the check reads src/os.rs's unsafe blocks (else it could not fail)");
    assert!(offenders.is_empty(), "unsafe outside src/os.rs: {offenders:?}");
}
