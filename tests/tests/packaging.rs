//! The Debian packaging's parts that can be checked without building the
//! packages: the systemd units (`systemd-analyze verify`, which also opens
//! the man pages they name, and the hardening a security review asks for)
//! and the logrotate snippet. Installing the packages is the testbed's
//! `packaged` scenario (testbed/run.sh).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use gsslog_tests::daemon::bin_path;
use gsslog_tests::realm::which;

fn packaging() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging")
}

/// A unit's `Key=value` lines, every value of a key in order.
fn unit_keys(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#') && !l.starts_with('[')) {
        if let Some((k, v)) = line.split_once('=') {
            keys.entry(k.to_string()).or_default().push(v.to_string());
        }
    }
    keys
}

/// Runs `systemd-analyze verify` on the units, with ExecStart pointed at the
/// binaries just built and the man pages just generated; any complaint fails.
fn verify(units: &[(&str, String)]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in units {
        let mut text = text
            .replace("/usr/sbin/imgssapi", bin_path("imgssapi").unwrap().to_str().unwrap())
            .replace("/usr/sbin/omgssapi", bin_path("omgssapi").unwrap().to_str().unwrap());
        if text.contains("/usr/sbin/gsslog ") {
            text = text.replace("/usr/sbin/gsslog ", &format!("{} ", bin_path("gsslog").unwrap().display()));
        }
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let man8 = dir.path().join("man/man8");
    let made = Command::new(bin_path("gsslog-man").unwrap()).arg(&man8).status().unwrap();
    assert!(made.success(), "gsslog-man failed");
    let out = Command::new(which("systemd-analyze").expect("systemd-analyze is missing: tests/setup.sh installs systemd"))
        .arg("verify")
        .args(units.iter().map(|(name, _)| dir.path().join(name)))
        .env("MANPATH", dir.path().join("man"))
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .unwrap();
    let complaints = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    if out.status.success() && complaints.trim().is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {complaints}", out.status))
    }
}

fn unit(name: &str) -> String {
    std::fs::read_to_string(packaging().join("systemd").join(name)).unwrap()
}

#[test]
fn systemd_analyze_verify_accepts_the_units() {
    let units = [
        ("gsslog-collector.service", unit("gsslog-collector.service")),
        ("gsslog-shipper.service", unit("gsslog-shipper.service")),
        ("gsslog-shipper-kmsg.socket", unit("gsslog-shipper-kmsg.socket")),
    ];
    verify(&units).unwrap();
}

#[test]
fn the_shipper_unit_gets_the_kernel_log_from_systemd() {
    // journald does not forward kernel messages to syslog.socket: systemd
    // opens /dev/kmsg for the shipper, whose unit keeps ProtectKernelLogs.
    let service = unit_keys(&unit("gsslog-shipper.service"));
    assert!(service["Wants"].iter().any(|w| w == "gsslog-shipper-kmsg.socket"), "{:?}", service["Wants"]);
    assert!(service["After"].iter().any(|a| a == "gsslog-shipper-kmsg.socket"), "{:?}", service["After"]);
    assert_eq!(service["ProtectKernelLogs"], ["yes"]);
    let socket = unit_keys(&unit("gsslog-shipper-kmsg.socket"));
    assert_eq!(socket["ListenSpecial"], ["/dev/kmsg"]);
    assert_eq!(socket["Service"], ["gsslog-shipper.service"]);
    assert_eq!(socket["PartOf"], ["gsslog-shipper.service"], "stopping the shipper stops it: no start by a kernel message after a rollback");
    assert!(!socket.contains_key("WantedBy"), "pulled in by the shipper only, never on an rsyslog node");
}

#[test]
fn systemd_analyze_verify_would_catch_a_mistake() {
    // The check above is only worth something if a bad unit fails it.
    let broken = unit("gsslog-shipper.service").replace("ProtectSystem=strict", "ProtectSytem=strict");
    assert!(verify(&[("gsslog-shipper.service", broken)]).is_err());
}

#[test]
fn the_units_are_hardened() {
    for name in ["gsslog-collector.service", "gsslog-shipper.service"] {
        let keys = unit_keys(&unit(name));
        let one = |k: &str| keys.get(k).and_then(|v| v.last()).map(String::as_str).unwrap_or_else(|| panic!("{name} has no {k}="));
        assert_eq!(one("Type"), "notify", "{name}: systemctl start returns once the daemon serves");
        assert!(one("WatchdogSec").ends_with('s'), "{name}");
        assert!(one("User").starts_with("gsslog-"), "{name}: a dedicated user");
        for (k, v) in [
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("ProtectHome", "yes"),
            ("PrivateTmp", "yes"),
            ("PrivateDevices", "yes"),
            ("LockPersonality", "yes"),
            ("MemoryDenyWriteExecute", "yes"),
            ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ] {
            assert_eq!(one(k), v, "{name}: {k}");
        }
        assert_eq!(keys["SystemCallFilter"][0], "@system-service", "{name}");
        assert!(!keys.contains_key("ReadWritePaths"), "{name}: only its own Logs/State/Cache/RuntimeDirectory is writable");
    }
    let collector = unit_keys(&unit("gsslog-collector.service"));
    assert_eq!(collector["CapabilityBoundingSet"], ["CAP_NET_BIND_SERVICE"], "port 515, nothing else");
    assert_eq!(collector["AmbientCapabilities"], ["CAP_NET_BIND_SERVICE"]);
    assert_eq!(collector["LogsDirectory"], ["hosts"], "the packaged tree, /var/log/hosts");
    assert_eq!(collector["StateDirectory"], ["gsslog-collector"], "the senders' table in /var/lib/gsslog-collector, across restarts");
    assert_eq!(collector["StateDirectoryMode"], ["0700"]);
    assert_eq!(collector["Group"], ["adm"], "a taken-over tree stays readable by group adm");
    assert_eq!(collector["SupplementaryGroups"], ["gsslog-collector"], "the keytab is root:gsslog-collector 0640");
    let config = std::fs::read_to_string(packaging().join("config/imgssapi.conf")).unwrap();
    for line in ["$WorkDirectory /var/lib/gsslog-collector", "$DirCreateMode 0750", "$FileCreateMode 0640"] {
        assert!(config.lines().any(|l| l == line), "the packaged collector config lacks '{line}'");
    }
    let shipper = unit_keys(&unit("gsslog-shipper.service"));
    assert_eq!(shipper["CapabilityBoundingSet"], [""], "the shipper needs no capability");
    assert_eq!(shipper["StateDirectoryMode"], ["0700"], "the queue holds authpriv messages");
    assert_eq!(shipper["Requires"], ["syslog.socket"]);
    assert_eq!(shipper["Alias"], ["syslog.service"], "socket activation as the node's syslog daemon, as rsyslog");
    assert_eq!(shipper["StateDirectory"], ["gsslog-shipper"], "the queue in /var/lib/gsslog-shipper");
}

/// The packaged shipper config with the collector filled in, as an admin leaves it.
fn packaged_shipper_config(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(packaging().join("config/omgssapi.conf")).unwrap();
    let conf = dir.join("omgssapi.conf");
    let include = dir.join("omgssapi.d");
    std::fs::create_dir_all(&include).unwrap();
    let text = text.replace("<server_name>:<port>", "collector.example.org:515").replace("/etc/gsslog/omgssapi.d", include.to_str().unwrap());
    std::fs::write(&conf, text).unwrap();
    conf
}

#[test]
fn the_queue_tool_reads_the_queue_the_packaged_service_and_omprog_wrapper_write() {
    // The config names the unit's StateDirectory, which the unit and the
    // wrapper also pass as the fallback (for a config from before that line):
    // `queue show -f` on the packaged config finds the queue they write.
    let service = unit_keys(&unit("gsslog-shipper.service"));
    let exec = &service["ExecStart"][0];
    assert_eq!(exec, "/usr/sbin/omgssapi -f /etc/gsslog/omgssapi.conf --work-directory /var/lib/gsslog-shipper");
    let wrapper = std::fs::read_to_string(packaging().join("omprog/gsslog-shipper-omprog")).unwrap();
    assert!(wrapper.contains("/usr/sbin/omgssapi -f /etc/gsslog/omgssapi.conf --stdin --work-directory /var/lib/gsslog-shipper \"$@\""), "{wrapper}");
    let dir = tempfile::tempdir().unwrap();
    let conf = packaged_shipper_config(dir.path());
    let out = Command::new(bin_path("omgssapi").unwrap()).args(["queue", "show", "-f"]).arg(&conf).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("queue srvrfwd1 in /var/lib/gsslog-shipper "), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_packaged_shipper_config_checks_without_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let conf = packaged_shipper_config(dir.path());
    let out = Command::new(bin_path("omgssapi").unwrap()).arg("-f").arg(&conf).arg("--check-config").output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(!said.to_lowercase().contains("warning"), "the packaged config warns at every start:\n{said}");
}

#[test]
fn the_collector_can_be_named_in_etc_default_instead_of_the_config() {
    // Fleet automation: the packaged config keeps its placeholder, and
    // /etc/default/gsslog-shipper names the collector for the unit and the
    // omprog wrapper.
    let service = unit_keys(&unit("gsslog-shipper.service"));
    assert_eq!(service["EnvironmentFile"], ["-/etc/default/gsslog-shipper"]);
    let wrapper = std::fs::read_to_string(packaging().join("omprog/gsslog-shipper-omprog")).unwrap();
    assert!(wrapper.contains(". /etc/default/gsslog-shipper") && wrapper.contains("export GSSLOG_COLLECTOR"), "{wrapper}");
    let default = std::fs::read_to_string(packaging().join("default/gsslog-shipper")).unwrap();
    assert!(default.lines().any(|l| l == "#GSSLOG_COLLECTOR=collector.example.org:515"), "{default}");

    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(packaging().join("config/omgssapi.conf")).unwrap();
    let include = dir.path().join("omgssapi.d");
    std::fs::create_dir_all(&include).unwrap();
    let conf = dir.path().join("omgssapi.conf");
    std::fs::write(&conf, text.replace("/etc/gsslog/omgssapi.d", include.to_str().unwrap())).unwrap();
    let check = |env: Option<&str>| {
        let mut cmd = Command::new(bin_path("omgssapi").unwrap());
        cmd.arg("-f").arg(&conf).arg("--check-config").env_remove("GSSLOG_COLLECTOR");
        if let Some(v) = env {
            cmd.env("GSSLOG_COLLECTOR", v);
        }
        let out = cmd.output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout))
    };
    let (ok, said) = check(None);
    assert!(!ok && said.contains("placeholder <server_name>:<port>") && said.contains("/etc/default/gsslog-shipper"), "{said}");
    let (ok, said) = check(Some("collector.example.org:515"));
    assert!(ok, "{said}");
    assert!(!said.to_lowercase().contains("warning"), "{said}");
    // The queue tool reads the queue whether or not the collector is named.
    let out = Command::new(bin_path("omgssapi").unwrap()).args(["queue", "show", "-f"]).arg(&conf).env_remove("GSSLOG_COLLECTOR").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("queue srvrfwd1 in /var/lib/gsslog-shipper "), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn systemd_analyze_verify_accepts_the_sealing_service_and_timer() {
    let units = [("gsslog-seal.service", unit("gsslog-seal.service")), ("gsslog-seal.timer", unit("gsslog-seal.timer"))];
    verify(&units).unwrap();
    // And a mistake in the timer would be caught.
    let broken = unit("gsslog-seal.timer").replace("OnCalendar=", "OnCalender=");
    assert!(verify(&[("gsslog-seal.service", unit("gsslog-seal.service")), ("gsslog-seal.timer", broken)]).is_err());
}

#[test]
fn the_sealing_unit_reads_the_tree_and_writes_only_it_and_the_archive() {
    let keys = unit_keys(&unit("gsslog-seal.service"));
    let one = |k: &str| keys.get(k).and_then(|v| v.last()).map(String::as_str).unwrap_or_else(|| panic!("gsslog-seal.service has no {k}="));
    assert_eq!(one("ExecStart"), "/usr/sbin/gsslog seal --remove-sources /var/log/hosts", "the command of issue #24");
    assert_eq!(one("Type"), "oneshot");
    assert_eq!(one("User"), "gsslog-collector", "the tree's owner: the only user who may remove a closed month");
    assert_eq!(one("StateDirectory"), "gsslog/archive", "gsslog's default archive, /var/lib/gsslog/archive");
    assert_eq!(keys["ReadWritePaths"], ["/var/log/hosts"], "the tree (to remove closed months), nothing else");
    for (k, v) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("PrivateNetwork", "yes"),
        ("IPAddressDeny", "any"),
        ("CapabilityBoundingSet", ""),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("RestrictAddressFamilies", "AF_UNIX"),
        ("IOSchedulingClass", "idle"),
    ] {
        assert_eq!(one(k), v, "gsslog-seal.service: {k}");
    }
    assert_eq!(keys["SystemCallFilter"][0], "@system-service");
    assert!(!keys.contains_key("WantedBy"), "started by its timer only");
    let timer = unit_keys(&unit("gsslog-seal.timer"));
    assert!(timer["OnCalendar"][0].starts_with("*-*-* "), "nightly");
    assert_eq!(timer["Persistent"], ["true"], "a night missed while off is made up");
    assert_eq!(timer["WantedBy"], ["timers.target"]);
}

#[test]
fn the_logrotate_snippet_parses_and_signals_the_collector() {
    let snippet = std::fs::read_to_string(packaging().join("logrotate/gsslog-collector")).unwrap();
    assert!(snippet.contains("--signal=HUP gsslog-collector.service"), "postrotate sends SIGHUP, which closes the files");
    assert!(snippet.contains("su gsslog-collector gsslog-collector"), "the tree belongs to the collector's user");
    let logrotate = which("logrotate").expect("logrotate is missing: tests/setup.sh installs it");
    // Run it for real on a tree of our own, as root (the user may not exist here).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hosts/2026/11/10.0.0.1/syslog");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "a line\n").unwrap();
    let conf = dir.path().join("logrotate.conf");
    std::fs::write(&conf, snippet.replace("/var/log/hosts", dir.path().join("hosts").to_str().unwrap()).replace("su gsslog-collector gsslog-collector", "su root root"))
        .unwrap();
    let out = Command::new(logrotate).arg("-f").arg("-s").arg(dir.path().join("state")).arg(&conf).output().unwrap();
    assert!(out.status.success(), "logrotate: {}", String::from_utf8_lossy(&out.stderr));
    assert!(file.with_file_name("syslog.1").exists(), "rotated");
    assert!(!file.exists(), "nocreate: the collector makes the new file on its next message");
}

/// `imgssapi --check-config` on `conf`, run by `wrapper` (a command that runs
/// its arguments differently: as another user, in another mount namespace).
fn check_collector_config(wrapper: &[&str], conf: &Path) -> (bool, String) {
    let out = Command::new(wrapper[0])
        .args(&wrapper[1..])
        .arg(bin_path("imgssapi").unwrap())
        .arg("-f")
        .arg(conf)
        .arg("--check-config")
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout))
}

#[test]
fn the_collector_config_check_finds_what_the_unit_will_refuse() {
    // What the packaged unit's ExecStartPre finds as the unit's user in its
    // sandbox: an output on a read-only mount (ProtectSystem=strict), a
    // directory the user may not write, a $FileGroup the user is not in.
    assert!(daemon_is_root(), "this test needs root (setpriv, unshare, bind mounts)");
    let dir = tempfile::tempdir().unwrap();
    let (tree, readonly, rootonly) = (dir.path().join("hosts"), dir.path().join("srv"), dir.path().join("rootonly"));
    for d in [&tree, &readonly, &rootonly] {
        std::fs::create_dir(d).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    for d in [dir.path(), &tree, &readonly] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    std::fs::set_permissions(&rootonly, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = dir.path().join("imgssapi.conf");
    let write = |body: &str| {
        std::fs::write(&conf, format!("$ModLoad imgssapi\n$InputGSSServerRun 5515\n$template PerHost,\"{}/%fromhost-ip%/syslog\"\n{body}", tree.display())).unwrap();
    };
    let as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"];

    // The per-host tree, writable by the user: nothing to say.
    write("*.* -?PerHost\n");
    let (ok, said) = check_collector_config(&as_nobody, &conf);
    assert!(ok, "{said}");

    // A directory the user may not write (a root-owned tree not handed over).
    write(&format!("*.* -?PerHost\n$template Other,\"{}/%fromhost-ip%.log\"\n*.* -?Other\n", rootonly.display()));
    let (ok, said) = check_collector_config(&as_nobody, &conf);
    assert!(!ok, "{said}");
    assert!(said.contains(&format!(":6: this process cannot create files in {}", rootonly.display())) && said.contains("Permission denied"), "{said}");
    let (ok, said) = check_collector_config(&["env"], &conf);
    assert!(ok, "root may write there: {said}");

    // Debian's $FileGroup adm, the user not in adm and without CAP_CHOWN.
    write("$FileGroup adm\n*.* -?PerHost\n");
    let (ok, said) = check_collector_config(&as_nobody, &conf);
    assert!(!ok, "{said}");
    assert!(said.contains(":5: $FileOwner/$FileGroup: group 4 is not one of this process's groups"), "{said}");
    let in_adm = ["setpriv", "--reuid=65534", "--regid=65534", "--groups=4", "--inh-caps=-all", "--bounding-set=-all"];
    let (ok, said) = check_collector_config(&in_adm, &conf);
    assert!(ok, "a member of adm may give its files to adm: {said}");

    // A static output on a read-only mount, as ProtectSystem=strict makes
    // everything outside the unit's own directories: even root is refused.
    write(&format!("*.* -?PerHost\nauth.* {}/identity.log\n", readonly.display()));
    let script = format!("mount --bind -o ro {0} {0} && exec \"$@\"", readonly.display());
    let (ok, said) = check_collector_config(&["unshare", "--mount", "--propagation", "private", "sh", "-c", &script, "sh"], &conf);
    assert!(!ok, "{said}");
    assert!(said.contains(":5: this process cannot create files in") && said.contains("ReadWritePaths="), "{said}");
}

fn daemon_is_root() -> bool {
    daemon::os::ids().uids[1] == 0
}
