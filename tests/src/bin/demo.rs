//! The demo: a throwaway realm, our collector with the packaged config (the
//! grid's server.conf as it was meant, pbs_mom's daily file included),
//! two worker nodes (Debian's stock rsyslog forwarding with omgssapi, and our
//! shipper with the grid's client stanza), sample logs, and the tree that
//! results; then the archive: `gsslog seal` of that tree, one `gsslog grep`
//! and an sshd report. Run it with `bash tests/demo.sh`.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use gsslog_tests::daemon::{bin_path, Daemon};
use gsslog_tests::net::{free_port, wait_for_file};
use gsslog_tests::realm::TestRealm;
use gsslog_tests::rsyslog::RsyslogForwarder;

fn main() -> Result<()> {
    let keep = std::env::args().nth(1).map(std::path::PathBuf::from);
    let tmp = tempfile::Builder::new().prefix("gsslog-demo-").tempdir()?;
    let base = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let root = base.join("var/log/hosts");
    println!("== realm: throwaway MIT KDC on loopback");
    let realm = TestRealm::start()?;
    realm.add_client("client")?;
    realm.add_client("node1")?;
    realm.install_env("client");

    let port = free_port()?;
    let (include, state) = (base.join("collector/imgssapi.d"), base.join("collector/state"));
    std::fs::create_dir_all(&include)?;
    std::fs::create_dir_all(&state)?;
    let config = include_str!("../../../packaging/config/imgssapi.conf")
        .replace("/var/log/hosts", &root.display().to_string())
        .replace("/etc/gsslog/imgssapi.d", &include.display().to_string())
        .replace("/var/lib/gsslog-collector", &state.display().to_string())
        // The demo's nodes sign in as user principals of the throwaway realm.
        .replace("host/*@<REALM>", &format!("*@{}", gsslog_tests::realm::REALM))
        .replace("$InputGSSServerRun 515", &format!("$InputGSSServerRun {port}"));
    println!("== collector: imgssapi with the packaged /etc/gsslog/imgssapi.conf (paths, port and principals changed) on port {port}");
    let mut collector = Daemon::start("imgssapi", &base.join("collector"), &config, &realm.server_env(), &["-x"])?;
    collector.wait_for_log("collector running", Duration::from_secs(20))?;

    println!("== node 127.0.0.1: Debian's rsyslog forwarding with omgssapi ($GssMode encryption)");
    let rsyslog = RsyslogForwarder::start(&base.join("node1-rsyslog"), &realm.client_env("node1"), "encryption", port, "")?;
    std::thread::sleep(Duration::from_millis(500));
    for m in [
        "<38>Nov 23 09:15:02 node1 sshd[2211]: Authorized to alice, krb5 principal alice@EXAMPLE.ORG (krb5_kuserok)",
        "<38>Nov 23 09:15:02 node1 sshd[2211]: Accepted gssapi-with-mic for alice from 192.0.2.7 port 50422 ssh2",
        "<86>Nov 23 09:15:03 node1 sudo: alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/qstat",
        "<4>Nov 23 09:15:04 node1 kernel: [ 8123.4411] nfs: server storage1 OK",
        "<30>Nov 23 09:15:05 node1 pbs_mom: Job 4711.headnode started",
    ] {
        rsyslog.send(m)?;
    }

    println!("== node 127.0.0.2: our shipper with the grid's client.conf, fed through its /dev/log-style socket");
    let shipper_conf = format!(
        "$ActionGSSForwardBindAddress 127.0.0.2\n{}",
        include_str!("../../../syslog/testdata/client.conf").replace("<server_name>:<port>", &format!("localhost:{port}"))
    );
    let socket = base.join("node2-log.sock");
    let work = base.join("node2-queue");
    let mut shipper = Daemon::start(
        "omgssapi",
        &base.join("node2-shipper"),
        &shipper_conf,
        &realm.client_env("client"),
        &["--work-directory", &work.display().to_string(), "--unix-socket", &socket.display().to_string()],
    )?;
    shipper.wait_for_log("shipper running", Duration::from_secs(20))?;
    let local = std::os::unix::net::UnixDatagram::unbound()?;
    for m in [
        "<38>Nov 23 09:16:00 node2 sshd[99]: Failed password for invalid user admin from 203.0.113.9 port 4711 ssh2",
        "<13>Nov 23 09:16:01 node2 cron[12]: (root) CMD (run-parts /etc/cron.hourly)",
    ] {
        local.send_to(m.as_bytes(), &socket)?;
    }

    let (y, m) = {
        let now = syslog::Timestamp::now();
        (format!("{:04}", now.year), format!("{:02}", now.month))
    };
    wait_for_file(&root.join(&y).join(&m).join("127.0.0.1/kern.log"), Duration::from_secs(20), |t| !t.is_empty())
        .with_context(|| collector.log())?;
    wait_for_file(&root.join(&y).join(&m).join("127.0.0.2/syslog"), Duration::from_secs(20), |t| !t.is_empty())?;
    let day = {
        let now = syslog::Timestamp::now();
        format!("{y}{m}{:02}", now.day)
    };
    wait_for_file(&root.join("pbs").join(&y).join(&m).join(format!("log.{day}")), Duration::from_secs(20), |t| t.contains("pbs_mom"))?;
    std::thread::sleep(Duration::from_millis(300));
    // Nodes first: a stock rsyslog never closes its session, so the collector
    // would otherwise wait out its drain timeout.
    shipper.stop(Duration::from_secs(10))?;
    rsyslog.daemon.stop()?;
    collector.stop(Duration::from_secs(10))?;

    println!("\n== the tree the collector wrote:");
    print_tree(&root, &root)?;
    println!("\n(pbs_mom's line is also in pbs/YEAR/MONTH/log.YYYYMMDD: the packaged config has the grid's");
    println!(" PbsService template and pbs_mom rule fixed; the seed, syslog/testdata/server.conf, loads too,");
    println!(" and warns that its 'contains \"pbs mom\"' rule never matches, as in rsyslog.)");

    let archive = base.join("archive");
    let (archive, tree) = (archive.display().to_string(), root.display().to_string());
    println!("\n== the archive: gsslog seal --archive {archive} {tree}");
    gsslog(&["seal", "--archive", &archive, &tree])?;
    println!("\n== gsslog grep -F alice (sealed data and live tails, as grep -r over the tree):");
    gsslog(&["grep", "--archive", &archive, "-F", "alice", &tree])?;
    println!("\n== gsslog report sshd logins (Kerberos logins with their principal):");
    gsslog(&["report", "sshd", "--archive", &archive, "logins", &tree])?;
    println!("\n== gsslog report sshd remote-results-per-day:");
    gsslog(&["report", "sshd", "--archive", &archive, "remote-results-per-day", &tree])?;
    match keep {
        Some(dir) => println!("(everything is kept in {})", dir.display()),
        None => println!("(run `bash tests/demo.sh DIR` to keep the files and logs in DIR)"),
    }
    Ok(())
}

/// Runs `gsslog ARGS` (built beside the demo), its output shown as it is.
fn gsslog(args: &[&str]) -> Result<()> {
    let out = std::process::Command::new(bin_path("gsslog")?).args(args).output().context("running gsslog")?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        bail!("gsslog {}: {}: {}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn print_tree(dir: &Path, root: &Path) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            print_tree(&p, root)?;
        } else {
            println!("--- {}", p.strip_prefix(root)?.display());
            print!("{}", String::from_utf8_lossy(&std::fs::read(&p)?));
        }
    }
    Ok(())
}
