//! `gsslog-man OUTDIR`: writes `imgssapi.8`, `omgssapi.8` and `gsslog.8`
//! (the admin's tool, `tools.rs`).
//!
//! The synopsis and options come from the daemons' own clap definitions
//! (`imgssapi::cli`, `omgssapi::cli`, `omgssapi::queue_cli`: the daemons'
//! libraries), so they are what `--help` says; the DIRECTIVES section comes from the
//! daemons' directive tables (`directives.rs`), the one place each directive is defined,
//! and the rest from the documents under `docs/`, named by file and heading
//! (`docs.rs`): a heading renamed there fails the build of the pages and
//! `cargo test`, never drops a part.
//!
//! `gsslog-man --directives docs/directives.md` writes the documentation's directive
//! tables from the same tables.

#![forbid(unsafe_code)]

mod directives;
mod docs;
mod markdown;
mod tools;

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;

use imgssapi::cli as imgssapi_cli;
use omgssapi::cli as omgssapi_cli;
use omgssapi::queue_cli as omgssapi_queue_cli;

use docs::DocSection;

/// One daemon's page: its command, the documents' sections that describe it,
/// and the sections written here.
struct Page {
    command: clap::Command,
    /// Whose directive table the DIRECTIVES section shows.
    daemon: directives::Daemon,
    /// A command line of its own the daemon's binary also takes
    /// (`omgssapi queue ...`), shown with its options.
    subcommands: Option<clap::Command>,
    /// What the daemon does and how it is configured, each its own `.SH`.
    own_sections: &'static [DocSection],
    files: &'static str,
    environment: &'static str,
    see_also: &'static str,
}

const COLLECTOR_SECTIONS: &[DocSection] =
    &[DocSection::new("collector.md", "The collector (`imgssapi/`)", "CONFIGURATION AND BEHAVIOUR")];

const SHIPPER_SECTIONS: &[DocSection] = &[
    DocSection::new("shipper.md", "The shipper (`omgssapi/`)", "CONFIGURATION AND BEHAVIOUR"),
    DocSection::new("queue.md", "The queue (`queue/`)", "THE QUEUE"),
];

fn collector() -> Page {
    Page {
        command: imgssapi_cli::Cli::command(),
        daemon: directives::Daemon::Collector,
        subcommands: None,
        own_sections: COLLECTOR_SECTIONS,
        files: "\
.TP\n/etc/gsslog/imgssapi.conf\nThe configuration the packaged unit uses (the grid's server.conf).\n\
.TP\n/var/log/hosts/\nThe per-host tree the packaged configuration writes (gsslog\\-collector:adm, directories 0750, files 0640).\n\
.TP\n/var/lib/gsslog\\-collector/\nThe packaged $WorkDirectory (the unit's StateDirectory): the senders' table across restarts.\n\
.TP\n/etc/logrotate.d/gsslog\\-collector\nRotates the tree's files and sends SIGHUP, which closes them.\n\
.TP\n/etc/gsslog/collector.keytab\nThe host key for the packaged unit, root:gsslog\\-collector mode 0640 (made by the admin from the host keytab).\n\
.TP\n/lib/systemd/system/gsslog\\-collector.service\nThe hardened unit (user gsslog\\-collector, group adm, CAP_NET_BIND_SERVICE only; ExecStartPre runs \\-\\-check\\-config).\n\
.TP\n/usr/share/doc/gsslog\\-collector/admin\\-guide.md.gz\nThe admin's guide (also in DEPLOYING ON DEBIAN above).\n",
        environment: "\
.TP\nKRB5_KTNAME\nThe acceptor's keytab (the unit sets FILE:/etc/gsslog/collector.keytab).\n\
.TP\nKRB5RCACHEDIR\nWhere the replay cache lives.\n",
        see_also: "omgssapi(8), rsyslogd(8), rsyslog.conf(5), systemd.exec(5)",
    }
}

fn shipper() -> Page {
    Page {
        command: omgssapi_cli::Cli::command(),
        daemon: directives::Daemon::Shipper,
        subcommands: Some(omgssapi_queue_cli::QueueCli::command()),
        own_sections: SHIPPER_SECTIONS,
        files: "\
.TP\n/etc/gsslog/omgssapi.conf\nThe configuration the packaged unit uses (the grid's client stanza; replace <server_name>:<port>, or set GSSLOG_COLLECTOR).\n\
.TP\n/etc/default/gsslog\\-shipper\nGSSLOG_COLLECTOR=HOST:PORT for the packaged config's placeholder, read by the unit and the omprog wrapper.\n\
.TP\n/var/lib/gsslog\\-shipper/kmsg.position\nThe last kernel log record forwarded (boot id, sequence number).\n\
.TP\n/lib/systemd/system/gsslog\\-shipper\\-kmsg.socket\nOpens /dev/kmsg for the unit (the kernel log, which journald does not forward).\n\
.TP\n/usr/share/doc/gsslog\\-shipper/admin\\-guide.md.gz\nThe admin's guide (also in DEPLOYING ON DEBIAN above).\n\
.TP\n/var/lib/gsslog\\-shipper/\nThe queue directory of the packaged unit (mode 0700).\n\
.TP\n/etc/gsslog/shipper.keytab\nThe host key for the packaged unit, root:gsslog\\-shipper mode 0640 (made by the admin from the host keytab).\n\
.TP\n/usr/libexec/gsslog/gsslog\\-shipper\\-omprog\nThe shipper for rsyslog's omprog (binary=), run as gsslog\\-shipper with the packaged config, keytab and queue directory.\n\
.TP\n/lib/systemd/system/gsslog\\-shipper.service\nThe hardened unit; as the node's syslog daemon it takes journald's \
/run/systemd/journal/syslog from syslog.socket (Alias=syslog.service).\n",
        environment: "\
.TP\nKRB5_CLIENT_KTNAME\nThe host keytab the initiator takes tickets with (the unit sets FILE:/etc/gsslog/shipper.keytab).\n\
.TP\nKRB5CCNAME\nThe ticket cache MIT Kerberos keeps.\n\
.TP\nLISTEN_FDS, LISTEN_PID\nSocket activation: every datagram socket systemd passes is read as a local syslog socket, a character device as the kernel log (/dev/kmsg).\n\
.TP\nGSSLOG_COLLECTOR\nThe collector (HOST:PORT) for the placeholder target <server_name>:<port> (\\-\\-collector).\n",
        see_also: "imgssapi(8), rsyslogd(8), rsyslog.conf(5), systemd.socket(5)",
    }
}

/// What both daemons' pages show after their directives: the security model
/// and identity, the acknowledged mode, operations, monitoring.
const SHARED_SECTIONS: &[DocSection] = &[
    // The admin's guide first: the keytab (ktutil), rollout, rollback,
    // monitoring, upgrade and purge, as the packages install it.
    DocSection::new("admin-guide.md", "Deploying on Debian", "DEPLOYING ON DEBIAN"),
    DocSection::new("security.md", "Security model", "SECURITY"),
    DocSection::new("protocol.md", "Acknowledged mode (our extension, `gsswire::ack`)", "ACKNOWLEDGED MODE"),
    DocSection::new("admin-guide.md", "Operations: privileges, logging, a stopped queue", "OPERATIONS"),
    DocSection::new("monitoring.md", "Monitoring: metrics, health, silent nodes", "MONITORING"),
];

/// What both daemons share, after each page's own environment.
const COMMON_ENVIRONMENT: &str = "\
.TP\nKRB5_CONFIG\nThe Kerberos configuration (default /etc/krb5.conf).\n\
.TP\nRUST_LOG\nThe daemon's own log level and filters (default info).\n\
.TP\nNOTIFY_SOCKET\nSet by systemd for Type=notify: READY=1 is sent once the daemon serves, STOPPING=1 when it stops.\n\
.TP\nWATCHDOG_USEC, WATCHDOG_PID\nSet by systemd for WatchdogSec=: WATCHDOG=1 is sent at half that interval.\n";

const SIGNALS: &str = "\
.TP\nSIGTERM, SIGINT\nAn orderly stop (see above).\n\
.TP\nSIGHUP\nNever stops the daemon: the collector closes its files (they reopen on the next message), the shipper logs one line.\n";

fn render(page: Page) -> anyhow::Result<Vec<u8>> {
    let subcommands = page.subcommands.as_ref().map(subcommands_section).unwrap_or_default();
    let man = clap_mangen::Man::new(page.command).section("8").manual("gsslog");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    let mut text = subcommands;
    for section in page.own_sections {
        text.push_str(&section.as_man_section()?);
    }
    text.push_str(&directives::roff(page.daemon));
    for section in SHARED_SECTIONS {
        text.push_str(&section.as_man_section()?);
    }
    text.push_str(&format!(".SH SIGNALS\n{SIGNALS}"));
    text.push_str(&format!(".SH ENVIRONMENT\n{}{COMMON_ENVIRONMENT}", page.environment));
    text.push_str(&format!(".SH FILES\n{}", page.files));
    text.push_str(&format!(".SH \"SEE ALSO\"\n{}\n", page.see_also));
    out.extend_from_slice(text.as_bytes());
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// `.SH "OMGSSAPI QUEUE"`: each subcommand of `command` with its options,
/// from the clap definition its `--help` comes from.
fn subcommands_section(command: &clap::Command) -> String {
    let name = command.get_name();
    let mut text = format!(".SH \"{}\"\n", name.to_uppercase());
    if let Some(about) = command.get_about() {
        text.push_str(&format!("{}\n", markdown::to_roff(&about.to_string()).trim_end()));
    }
    for sub in command.get_subcommands() {
        let options: Vec<String> = sub
            .get_arguments()
            .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
            .map(|a| {
                let value = a.get_value_names().and_then(|v| v.first()).map_or_else(|| a.get_id().to_string().to_uppercase(), |v| v.to_string());
                let flags: Vec<String> = a.get_short().map(|c| format!("-{c}")).into_iter().chain(a.get_long().map(|l| format!("--{l}"))).collect();
                let flags = flags.join(", ").replace('-', "\\-");
                let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                let default = a.get_default_values().first().map(|d| format!(" (default {})", d.to_string_lossy())).unwrap_or_default();
                format!(".TP\n\\fB{flags}\\fR \\fI{value}\\fR\n{help}{default}\n")
            })
            .collect();
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        text.push_str(&format!(".SS \"{name} {}\"\n{about}\n{}", sub.get_name(), options.concat()));
    }
    text
}

fn main() -> anyhow::Result<()> {
    let usage = "usage: gsslog-man OUTDIR | gsslog-man --directives FILE";
    let dir = std::env::args_os().nth(1).context(usage)?;
    if dir == "--directives" {
        let path = std::env::args_os().nth(2).context(usage)?;
        let path = Path::new(&path);
        std::fs::write(path, directives::markdown()).with_context(|| format!("writing {}", path.display()))?;
        return Ok(());
    }
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, page) in [("imgssapi", collector()), ("omgssapi", shipper())] {
        let path = dir.join(format!("{name}.8"));
        std::fs::write(&path, render(page)?).with_context(|| format!("writing {}", path.display()))?;
    }
    let path = dir.join("gsslog.8");
    std::fs::write(&path, tools::render()?).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_text(page: Page) -> String {
        String::from_utf8(render(page).unwrap()).unwrap().to_lowercase().replace("\\-", "-").replace("\\fb", "").replace("\\fr", "")
    }

    fn assert_documents_everything(page: Page) {
        let long_flags: Vec<String> =
            page.command.get_arguments().filter_map(|a| a.get_long().map(|l| format!("--{l}"))).collect();
        // `omgssapi queue show|export` and each of their options.
        let mut sub_flags = Vec::new();
        if let Some(command) = &page.subcommands {
            for sub in command.get_subcommands() {
                sub_flags.push(format!("{} {}", command.get_name(), sub.get_name()));
                sub_flags.extend(sub.get_arguments().filter_map(|a| a.get_long().map(|l| format!("--{l}"))));
                sub_flags.extend(sub.get_arguments().filter_map(|a| a.get_short().map(|c| format!("-{c}"))));
            }
        }
        let text = page_text(page);
        let missing: Vec<&String> = sub_flags.iter().filter(|f| !text.contains(f.as_str())).collect();
        assert!(missing.is_empty(), "subcommands and options the man page does not show: {missing:?}");
        // The directives: directives::tests checks the DIRECTIVES section has every table entry.
        assert!(text.contains(".sh directives"), "the page has its directives section");
        let missing: Vec<&String> = long_flags.iter().filter(|f| !text.contains(f.as_str())).collect();
        assert!(missing.is_empty(), "flags the man page does not show: {missing:?}");
    }

    #[test]
    fn the_collector_page_documents_every_flag() {
        assert_documents_everything(collector());
    }

    #[test]
    fn the_shipper_page_documents_every_flag() {
        assert_documents_everything(shipper());
    }

    /// Every part of a document a page names is there: a heading renamed or
    /// moved in `docs/` fails here, with the file and the heading.
    #[test]
    fn every_section_the_pages_name_is_in_its_document() {
        let mut named: Vec<DocSection> = Vec::new();
        for page in [collector(), shipper()] {
            named.extend(page.own_sections);
        }
        named.extend(SHARED_SECTIONS);
        named.push(tools::GUIDE);
        let missing: Vec<String> = named.iter().filter_map(|s| s.text().err()).map(|e| e.to_string()).collect();
        assert!(missing.is_empty(), "sections the man pages read that docs/ lacks: {missing:#?}");
        for section in &named {
            assert!(section.text().unwrap().trim().len() > 40, "{section:?} is (nearly) empty");
        }
    }

    #[test]
    fn both_pages_carry_the_admins_guide() {
        // The keytab recipe, the rollout, rollback and purge steps (issue #22
        // item 7): in the pages, not only in the README.
        for page in [collector(), shipper()] {
            let name = page.command.get_name().to_string();
            let text = String::from_utf8(render(page).unwrap()).unwrap();
            for needed in [".SH \"DEPLOYING ON DEBIAN\"", "| ktutil", "systemctl stop syslog.socket gsslog\\-shipper", "apt purge", "GSSLOG_COLLECTOR"] {
                assert!(text.contains(needed), "{name}(8) lacks '{needed}'");
            }
        }
    }

    #[test]
    fn troff_reads_the_pages_without_a_warning_in_any_locale() {
        // troff reads bytes: UTF-8 text warns ("invalid input character")
        // unless man happens to run preconv for the locale. -ww: all warnings
        // (line adjustment aside, which depends on the terminal's width).
        for page in [collector(), shipper()] {
            let name = page.command.get_name().to_string();
            let mut troff = std::process::Command::new("groff")
                .args(["-ww", "-Wbreak", "-z", "-man", "-Tutf8"])
                .env("LC_ALL", "C")
                .stdin(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("groff is missing: tests/setup.sh installs groff-base");
            std::io::Write::write_all(&mut troff.stdin.take().unwrap(), &render(page).unwrap()).unwrap();
            let out = troff.wait_with_output().unwrap();
            let warnings = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success() && warnings.trim().is_empty(), "{name}: {warnings}");
        }
    }

    #[test]
    fn the_pages_are_well_formed_roff() {
        for page in [collector(), shipper()] {
            let text = String::from_utf8(render(page).unwrap()).unwrap();
            assert!(text.starts_with(".ie") || text.starts_with(".TH"), "{}", &text[..80.min(text.len())]);
            for line in text.lines() {
                assert!(!line.starts_with("```"), "a fence left in: {line}");
            }
        }
    }
}
