//! The admin's tool's page, `gsslog(8)`: every command's synopsis and options
//! from the same clap definition as `gsslog --help` (`gsslog_archive::cli`,
//! the tool's own library), and the admin's guide to it from
//! `docs/admin-guide.md`.

use clap::CommandFactory;

use crate::docs::DocSection;

/// The section of the admin's guide that is the tool's.
pub const GUIDE: DocSection =
    DocSection::new("admin-guide.md", "The archive: seal nightly, remove closed months, search", "THE ADMIN'S GUIDE");

pub fn command() -> clap::Command {
    gsslog_archive::cli::Cli::command()
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

/// A command's usage, what it does and its options, then its subcommands'.
fn render_command(out: &mut String, path: &str, command: &clap::Command) {
    let path = format!("{path} {}", command.get_name());
    let usage = command.clone().bin_name(&path).render_usage().to_string();
    out.push_str(&format!(".SS \"{}\"\n", escape(&path)));
    if let Some(about) = command.get_about() {
        out.push_str(&format!("{}\n.PP\n", escape(&about.to_string())));
    }
    out.push_str(&format!(".nf\n{}\n.fi\n", escape(usage.trim_start_matches("Usage: "))));
    for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
        let mut names = Vec::new();
        if let Some(short) = arg.get_short() {
            names.push(format!("\\fB\\-{short}\\fR"));
        }
        if let Some(long) = arg.get_long() {
            names.push(format!("\\fB\\-\\-{}\\fR", escape(long)));
        }
        let values = arg.get_value_names().map(|v| v.iter().map(|n| format!(" \\fI{}\\fR", escape(n))).collect::<String>());
        let takes_value = arg.get_action().takes_values();
        let head = if names.is_empty() {
            format!("\\fI{}\\fR", escape(&values.unwrap_or_default().trim().replace("\\fI", "").replace("\\fR", "")))
        } else {
            format!("{}{}", names.join(", "), if takes_value { values.unwrap_or_default() } else { String::new() })
        };
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        let default = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect::<Vec<_>>();
        let default = if default.is_empty() || !takes_value { String::new() } else { format!(" (default: {})", default.join(",")) };
        out.push_str(&format!(".TP\n{head}\n{}{}\n", escape(&help), escape(&default)));
    }
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        render_command(out, &path, sub);
    }
}

pub fn render() -> anyhow::Result<Vec<u8>> {
    let command = command();
    let man = clap_mangen::Man::new(command.clone()).section("8").manual("gsslog");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    let mut text = String::from(".SH COMMANDS\n");
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        render_command(&mut text, "gsslog", sub);
    }
    text.push_str(&GUIDE.as_man_section()?);
    text.push_str(
        ".SH \"EXIT STATUS\"\n0: done (grep: a line matched). 1: grep found nothing, verify found a mismatch, or senders named silent or unexpected senders. 2: an error.\n\
.SH ENVIRONMENT\n.TP\nRUST_LOG\nThe tool's own log level and filters (default info).\n\
.SH FILES\n\
.TP\n/var/lib/gsslog/archive/\nThe archive when \\-\\-archive is not given (outside the tree, so that grep \\-r never reads it).\n\
.TP\n/lib/systemd/system/gsslog\\-seal.service, gsslog\\-seal.timer\nThe nightly seal of /var/log/hosts, as gsslog\\-collector, hardened.\n\
.SH \"SEE ALSO\"\nimgssapi(8), grep(1), systemd.timer(5)\n",
    );
    out.extend_from_slice(text.as_bytes());
    man.render_version_section(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long_flags(command: &clap::Command, out: &mut Vec<String>) {
        out.extend(command.get_arguments().filter_map(|a| a.get_long().map(|l| format!("--{l}"))));
        for sub in command.get_subcommands() {
            long_flags(sub, out);
        }
    }

    #[test]
    fn the_tools_page_shows_every_command_and_flag() {
        let text = String::from_utf8(render().unwrap()).unwrap().replace("\\-", "-");
        let mut flags = Vec::new();
        long_flags(&command(), &mut flags);
        assert!(flags.contains(&"--remove-sources".to_string()) && flags.contains(&"--watchlist".to_string()), "{flags:?}");
        // In the commands' own section, not merely somewhere in the guide.
        let commands = text.split(".SH COMMANDS").nth(1).and_then(|t| t.split("\n.SH ").next()).expect("a COMMANDS section");
        let missing: Vec<&String> = flags.iter().filter(|f| !commands.contains(f.as_str())).collect();
        assert!(missing.is_empty(), "flags the page does not show: {missing:?}");
        for command in ["gsslog seal", "gsslog grep", "gsslog report sshd remote-results-per-day", "gsslog report sshd watchlist"] {
            assert!(text.contains(&format!(".SS \"{command}\"")), "{command} has no section");
        }
        assert!(text.contains("gsslog-seal.timer"));
        for line in text.lines() {
            assert!(!line.starts_with("```"), "a fence left in: {line}");
        }
    }
}
