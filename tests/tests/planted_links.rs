//! Files the daemons write as root in a directory another account may
//! write (issue 21, item 5), end to end with the real collector: the pid
//! file and the port file are replaced by a rename, never written through a
//! link planted at their names; a keytab others may read draws a warning.
//! (The queue's own files: `queue/tests/planted_files.rs`.)

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use gsslog_tests::daemon::Daemon;
use gsslog_tests::net::free_port;
use gsslog_tests::realm::TestRealm;

const WAIT: Duration = Duration::from_secs(30);

fn victim(path: &Path) {
    fs::write(path, "precious\n").unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
}

#[test]
fn pid_and_port_file_links_planted_in_a_shared_directory_are_replaced_not_followed() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    let shared = dir.path().join("collector"); // the daemon's pid file goes here
    fs::create_dir_all(&outside).unwrap();
    fs::create_dir_all(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
    let (pid_target, port_target) = (outside.join("pid-victim"), outside.join("port-victim"));
    victim(&pid_target);
    let pid_path = shared.join("imgssapi.pid");
    symlink(&pid_target, &pid_path).unwrap();
    // A dangling link for the port file: nothing may be created where it points.
    let port_path = shared.join("port");
    symlink(&port_target, &port_path).unwrap();
    let config = format!(
        "$ModLoad imgssapi\n$InputGSSListenPortFileName {}\n$InputGSSServerRun {}\n*.* {}/all.log\n",
        port_path.display(),
        free_port().unwrap(),
        dir.path().display()
    );
    let mut collector = Daemon::start("imgssapi", &shared, &config, &realm.server_env(), &["-x"]).unwrap();
    collector.wait_for_log("collector running", WAIT).unwrap();

    assert_eq!(fs::read_to_string(&pid_target).unwrap(), "precious\n", "the pid file was written through the link");
    assert_eq!(fs::metadata(&pid_target).unwrap().permissions().mode() & 0o777, 0o644);
    assert!(fs::symlink_metadata(&pid_path).unwrap().file_type().is_file(), "the pid file is a file of its own");
    assert_eq!(fs::read_to_string(&pid_path).unwrap(), format!("{}\n", collector.pid()));
    assert!(!port_target.exists(), "a file was created through a dangling link");
    assert!(fs::symlink_metadata(&port_path).unwrap().file_type().is_file(), "the port file is a file of its own");
    collector.stop(WAIT).unwrap();
    assert!(!pid_path.exists(), "the pid file is removed at exit");
    assert_eq!(fs::read_to_string(&pid_target).unwrap(), "precious\n");
}

#[test]
fn a_keytab_others_may_read_is_a_warning() {
    let realm = TestRealm::shared();
    let dir = tempfile::tempdir().unwrap();
    let keytab = dir.path().join("exposed.keytab");
    fs::copy(realm.server_keytab(), &keytab).unwrap();
    fs::set_permissions(&keytab, fs::Permissions::from_mode(0o644)).unwrap();
    let mut env = realm.server_env();
    env.retain(|(k, _)| k != "KRB5_KTNAME");
    env.push(("KRB5_KTNAME".into(), format!("FILE:{}", keytab.display())));
    let config = format!("$ModLoad imgssapi\n$InputGSSServerRun {}\n*.* {}/all.log\n", free_port().unwrap(), dir.path().display());
    let mut collector = Daemon::start("imgssapi", &dir.path().join("collector"), &config, &env, &["-x"]).unwrap();
    collector.wait_for_log("collector running", WAIT).unwrap();
    let log = collector.log();
    assert!(log.contains("readable or writable by every user (mode 0644)") && log.contains("exposed.keytab"), "{log}");
    collector.stop(WAIT).unwrap();

    // The same keytab, private: no warning.
    fs::set_permissions(&keytab, fs::Permissions::from_mode(0o600)).unwrap();
    let mut collector = Daemon::start("imgssapi", &dir.path().join("collector2"), &config, &env, &["-x"]).unwrap();
    collector.wait_for_log("collector running", WAIT).unwrap();
    assert!(!collector.log().contains("readable or writable by"), "{}", collector.log());
}
