//! The differential test's shared pieces: one corpus, one set of rules, and
//! the comparison of the file trees that Debian's rsyslog and our collector
//! write from them. `tests/differential.rs` sends the corpus over plain TCP,
//! `tests/differential_gss.rs` through stock rsyslog omgssapi nodes into
//! imgssapi; the inputs left out of the corpus, and why, are listed there.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The rules both receivers run, writing under `root`, with DNS off
/// (`net.enableDNS="off"`): `fromhost` is the peer's address.
pub fn rules(root: &Path) -> String {
    format!("global(net.enableDNS=\"off\")\n{}", rules_with_dns(root))
}

/// The rules of [`rules`] without the DNS switch: the seed's rules and
/// templates (per-host tree included), templates with every property the
/// input sets (`%inputname%`, `%fromhost%`, `%fromhost-ip%`), filters of
/// every kind, property replacer options, RainerScript, and the NOTIME rule.
pub fn rules_with_dns(root: &Path) -> String {
    let seed = include_str!("../../syslog/testdata/server.conf");
    // Only the rules and templates of the seed: the listener lines are each
    // receiver's own.
    let seed_rules: String = seed
        .lines()
        .filter(|l| !l.starts_with("$ModLoad") && !l.starts_with("$InputGSS"))
        .map(|l| format!("{l}\n"))
        .collect();
    let r = root.display();
    let seed_rules = seed_rules.replace("/var/log/hosts", &format!("{r}/hosts"));
    let script = rainerscript_rules(root);
    format!(
        "{}\n{seed_rules}\n\
         $template Props,\"%pri%|%pri-text%|%syslogfacility%|%syslogfacility-text%|%syslogseverity%|%syslogseverity-text%|%hostname%|%fromhost%|%fromhost-ip%|%syslogtag%|%programname%|%timereported:::date-rfc3339%|%timestamp%|%inputname%|%app-name%|%procid%|%msgid%|%structured-data%|%syslogtag:1:32%|[%msg:::sp-if-no-1st-sp%]|%timereported:::date-year%%timereported:::date-month%%timereported:::date-day%|%msg%|%rawmsg%\\n\"\n\
         $template PerProgram,\"{r}/by-program/%programname%/%syslogseverity-text%.log\"\n\
         *.* {r}/all.props;Props\n\
         *.* {r}/all.trad;RSYSLOG_TraditionalFileFormat\n\
         *.* {r}/all.file;RSYSLOG_FileFormat\n\
         local3.* -?PerProgram\n\
         :msg, contains, \"DISCARD-ME\" ~\n\
         *.* {r}/after-discard.log\n\
         :programname, isequal, \"sshd\" {r}/sshd.log\n\
         :msg, !contains, \"a\" {r}/no-a.log\n\
         :hostname, startswith, \"web\" {r}/web.log\n\
         :msg, regex, \"fac [0-9]* sev 7\" {r}/regex.log\n\
         :msg, ereregex, \"sev (0|1)$\" {r}/ereregex.log\n\
         mail.warn {r}/mail-warn.log\n\
         mail.=info {r}/mail-info.log\n\
         mail.!err {r}/mail-not-err.log\n\
         mail.*;mail.!err {r}/mail-below-err.log\n\
         mail.*;mail.!=info {r}/mail-not-info.log\n\
         *.*;mail.none;local3.none {r}/not-mail.log\n\
         $template Opts,\"%msg:::drop-cc%|%msg:::space-cc%|%msg:::escape-cc%|%msg:F,32:2%|%msg:F,32:5%|%msg:F,44:2%|%msg:F,58:1%|%msg:F,32:0%|%msg:2:5%|%msg:5:%|%msg:3:$%|%msg:10:1:pos-end-relative%|%msg:1:12:fixed-width%|%msg:::compressspace%|%msg:::csv%|%syslogtag:::secpath-replace%|%programname:::secpath-drop%|%msg:R,ERE,1,DFLT:([0-9]+)--end%|%msg:R,ERE,1,ZERO:(zzz)--end%|%msg:R,ERE,1,BLANK,1:([a-z]+)--end%|%msg:R,ERE,2,DFLT:([a-z]+)(Q)?--end%|%hostname:::uppercase%|%msg:::sp-if-no-1st-sp,secpath-replace%|%msg:::drop-last-lf,escape-cc%|%msg:::nosuchoption%\\n\"\n\
         *.* {r}/all.opts;Opts\n\
         $template Vars,\"-%$!var%-%$.var%-%$/var%-%$!a!b%-%$!var:1:3%-%$.x:::uppercase%-%$/g:R,ERE,0,ZERO:[0-9]+--end%-%$!%-%$.%-%$/%-%msg%\\n\"\n\
         *.* {r}/all.vars;Vars\n\
         $template VarPath,\"{r}/var-paths/x%$!name%y%$.name%z%$/name%.log\"\n\
         *.* ?VarPath\n\
         $template SecPathReplace,\"{r}/secpath/replace/%msg:F,32:4:secpath-replace%.log\"\n\
         $template SecPathDrop,\"{r}/secpath/drop/%msg:F,32:4:secpath-drop%.log\"\n\
         :programname, isequal, \"sp\" -?SecPathReplace\n\
         & -?SecPathDrop\n\
         :msg, contains, \"PBS-PROBE\" -?PbsService\n{script}\n",
        notime_rules(root)
    )
}

/// Messages whose time is the reception time: written through a template
/// without time fields, and kept out of every other rule.
fn notime_rules(root: &Path) -> String {
    let r = root.display();
    format!(
        "template(name=\"NoTime\" type=\"string\" string=\"%pri%|%pri-text%|%hostname%|%syslogtag%|%programname%|%app-name%|%procid%|%msgid%|%structured-data%|%inputname%|%fromhost%|%fromhost-ip%|%msg%|%rawmsg%\\n\")\n\
         if $rawmsg contains \"NOTIME\" then {{\n  action(type=\"omfile\" file=\"{r}/notime.log\" template=\"NoTime\")\n  stop\n}}\n"
    )
}

/// The seed's rules again in RainerScript (into `script-hosts/`), and more:
/// list templates, if/else, and/or/not, comparisons of every kind, legacy
/// filters and actions inside blocks, `stop`.
fn rainerscript_rules(root: &Path) -> String {
    let r = root.display();
    format!(
        r#"template(name="SHostSyslog" type="string" string="{r}/script-hosts/%$YEAR%/%$MONTH%/%fromhost-ip%/syslog")
template(name="SHostAuth" type="list") {{
  constant(value="{r}/script-hosts/")
  property(name="$year")
  constant(value="/")
  property(name="$month")
  constant(value="/")
  property(name="fromhost-ip")
  constant(value="/auth.log")
}}
template(name="SHostKern" type="string" string="{r}/script-hosts/%$YEAR%/%$MONTH%/%fromhost-ip%/kern.log")
if $syslogfacility-text == "auth" or $syslogfacility-text == 'authpriv' then {{
  action(type="omfile" dynaFile="SHostAuth" dirCreateMode="0750" fileCreateMode="0640")
}}
if $syslogfacility-text == "kern" then action(type="omfile" dynaFile="SHostKern")
if not ($syslogfacility-text == "kern" or $syslogfacility-text == "auth" or $syslogfacility-text == "authpriv") then {{
  action(type="omfile" dynaFile="SHostSyslog")
}}
template(name="SLine" type="list") {{
  property(name="timereported" dateformat="rfc3339")
  constant(value=" ")
  property(name="hostname" caseconversion="upper")
  constant(value=" ")
  property(name="syslogtag" position.from="1" position.to="10")
  property(name="msg" spifno1stsp="on")
  property(name="msg" droplastlf="on" controlcharacters="escape")
  constant(value="|")
  property(name="msg" field.delimiter="32" field.number="3")
  constant(value="|")
  property(name="msg" regex.expression="([0-9]+)" regex.type="ERE" regex.submatch="1" regex.nomatchmode="ZERO")
  constant(value="
")
}}
template(name="SByProgram" type="list") {{
  constant(value="{r}/script/by-program/")
  property(name="programname" securepath="replace")
  constant(value=".log")
}}
if $syslogseverity < 4 and not ($syslogfacility-text == "kern") then action(type="omfile" file="{r}/script/urgent.log" template="SLine")
if $syslogseverity >= 6 then action(type="omfile" file="{r}/script/info-debug.log" template="SLine")
if $syslogseverity <= "2" or $syslogfacility > 20 then action(type="omfile" file="{r}/script/numbers.log" template="SLine")
if $programname startswith "prog1" then {{
  action(type="omfile" file="{r}/script/prog1x.log" template="SLine")
}} else {{
  if $msg contains "sev 3" then action(type="omfile" file="{r}/script/sev3.log")
  else if $hostname != "node1" then action(type="omfile" file="{r}/script/not-node1.log")
}}
if $syslogfacility-text == "local3" then action(type="omfile" dynaFile="SByProgram" template="SLine")
:programname, isequal, "sshd" {{
  action(type="omfile" file="{r}/script/sshd-block.log")
  & action(type="omfile" file="{r}/script/sshd-block2.log" template="SLine")
}}
if $!nosuch == "" and $.nosuch == "" then action(type="omfile" file="{r}/script/empty-vars.log" template="SLine")
template(name="SVars" type="list") {{
  constant(value="<")
  property(name="$!var")
  constant(value="|")
  property(name="$.loc" caseconversion="upper")
  constant(value="|")
  property(name="$/glob" position.from="1" position.to="3")
  constant(value="|")
  property(name="$!")
  constant(value="|")
  property(name="msg")
  constant(value=">
")
}}
*.* action(type="omfile" file="{r}/script/vars.log" template="SVars")
if $msg == 0 then action(type="omfile" file="{r}/script/msg-is-zero.log")
if $pri > "100" then action(type="omfile" file="{r}/script/pri-string-compare.log")
if not $msg == "x" then action(type="omfile" file="{r}/script/not-binds-tight.log")
*.* action(type="omfile" file="{r}/script/all.log" template="RSYSLOG_TraditionalFileFormat")
if $syslogseverity-text == "debug" then {{
  {r}/script/debug-legacy.log;SLine
  stop
}}
*.* action(type="omfile" file="{r}/script/after-debug-stop.log")
"#
    )
}

/// The messages both receivers get, in order. None of them holds an LF.
pub fn corpus() -> Vec<Vec<u8>> {
    let mut c: Vec<Vec<u8>> = Vec::new();
    // Every facility and severity, with and without a pid.
    for fac in 0..24u32 {
        for sev in 0..8u32 {
            let pri = fac * 8 + sev;
            let tag = if sev % 2 == 0 { format!("prog{fac}[{}]:", 100 + sev) } else { format!("prog{fac}:") };
            c.push(format!("<{pri}>Nov 23 12:{fac:02}:{sev:02} host{fac} {tag} message fac {fac} sev {sev}").into_bytes());
        }
    }
    let more: &[&[u8]] = &[
        // RFC 5424, with structured data, with nil fields, with fractions and offsets.
        b"<165>1 2026-11-23T22:14:15.003Z mymachine evntslog 123 ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"App\"] An application event",
        b"<13>1 2026-11-23T10:00:00.123456+01:00 web01 app - - - nil procid",
        b"<13>1 2026-11-23T10:00:00-05:30 web02 - - - [a@1 x=\"y\\]z\"][b@2] two SD elements",
        b"<134>1 2026-11-23T10:00:00Z host app 1 - - ",
        // RFC 3164 variants.
        b"<38>Nov  3 01:02:03 vm sshd[42]: single-digit day",
        b"<38>Nov 3 01:02:03 vm sshd[42]: one-digit day without padding",
        b"<38> Nov 23 12:00:00 procurve sshd: leading space before the date",
        b"<38>Nov 23 12:00:00: cisco-style colon after the time",
        b"<38>Nov 23 2026 12:00:00 yearhost sshd: year before the time",
        b"<38>2026-11-23T12:00:00.5+02:00 isohost sshd: RFC 3339 date in a 3164 message",
        b"<38>Nov 23 12:00:00.123 frachost sshd: fractional seconds",
        b"<30>Nov 23 12:00:00 node1 pbs mom: space in the tag",
        b"<30>Nov 23 12:00:00 node1 pbs_mom: underscore tag",
        b"<30>Nov 23 12:00:00 pbs_mom: no hostname at all",
        b"<30>Nov 23 12:00:00 node1 postfix/smtpd[123]: slash in the tag",
        b"<30>Nov 23 12:00:00 node1 averyveryveryveryverylongprogramname_beyond_32[99]: long tag",
        b"<30>Nov 23 12:00:00 node1 notag message without a colon",
        b"<30>Nov 23 12:00:00 host-with-dash- tag: hostname ending in a dash",
        b"<30>Nov 23 12:00:00 host.example.org sshd: dotted hostname",
        b"<30>Nov 23 12:00:00 node1 sshd:no space after the colon",
        b"<30>Nov 23 12:00:00 node1 sshd:    lots   of   spaces   ",
        b"<30>Nov 23 12:00:00 node1 sshd: tab\there and ctrl\x01x and del\x7f and esc\x1b[31m",
        b"<30>Nov 23 12:00:00 node1 sshd: latin1 \xe9 and broken utf8 \xff\xfe",
        b"<30>Nov 23 12:00:00 node1 sshd: trailing spaces   ",
        b"<30>Nov 23 12:00:00 node1 sshd: DISCARD-ME stops here",
        b"<30>Nov 23 12:00:00 node1 sshd: ends with a backslash \\",
        b"<0>Nov 23 12:00:00 kernhost kernel: pri zero",
        b"<191>Nov 23 12:00:00 lasthost app: pri 191",
        b"<38>nov 23 12:00:00 lowerhost sshd: lowercase month",
        b"<38>Nov 23 12:00:00 web03 sshd[1]: Accepted publickey for root",
        b"<86>Nov 23 12:00:00 web03 sudo: pam_unix(sudo:session): session opened",
        b"<4>Nov 23 12:00:00 web03 kernel: [ 12.345678] oom-killer",
        b"<154>Nov 23 12:00:00 node7 localapp[7]: local3 goes per program",
        b"<155>Nov 23 12:00:00 node7 other/app: slash programname per program",
    ];
    c.extend(more.iter().map(|m| m.to_vec()));
    c.extend(generated_cases());
    let mut long = b"<30>Nov 23 12:00:00 node1 longmsg: ".to_vec();
    long.extend(std::iter::repeat_n(b'L', 4000));
    c.push(long);
    c
}

/// Many values for each class of divergence found before: control
/// characters (DEL too) for the `*-cc` options, field numbers past the last
/// field, empty and dot values in paths, long TAGs, hostnames and
/// APP-NAMEs around every limit, and messages whose time is the reception
/// time.
fn generated_cases() -> Vec<Vec<u8>> {
    let mut c: Vec<Vec<u8>> = Vec::new();
    // (Not 0x80-0x9F: C1 controls, which we escape and rsyslog does not.)
    for byte in [0x01u8, 0x07, 0x09, 0x1b, 0x1f, 0x7f, 0xa0, 0xff] {
        for at in ["start", "middle", "end"] {
            let mut m = b"<30>Nov 23 12:00:00 node1 cc: ".to_vec();
            match at {
                "start" => m.extend_from_slice(&[byte, b'x', b' ', b'y']),
                "middle" => m.extend_from_slice(&[b'x', byte, b' ', byte, b'y']),
                _ => m.extend_from_slice(&[b'x', b' ', b'y', byte]),
            }
            c.push(m);
        }
    }
    for fields in 0..6 {
        let words: Vec<String> = (0..fields).map(|i| format!("w{i}")).collect();
        c.push(format!("<30>Nov 23 12:00:00 node1 fields: {}", words.join(" ")).into_bytes());
        c.push(format!("<30>Nov 23 12:00:00 node1 fields:{}", words.join(",")).into_bytes());
        c.push(format!("<30>Nov 23 12:00:00 node1 fields: a  b   {}  \"quoted\" 12 zzz", words.join(":")).into_bytes());
    }
    for value in ["", ".", "..", "...", "a.b", "-", "_", "a/b", "/x", ".hidden", "x..", "..x", "%", "sp ace"] {
        c.push(format!("<30>Nov 23 12:00:00 node1 sp: A B {value}").into_bytes());
    }
    c.push(b"<30>Nov 23 12:00:00 node1 sp: A B".to_vec());
    c.push(b"<30>Nov 23 12:00:00 node1 sp:".to_vec());
    // Program names of 32 characters and more, as the dynamic file names of
    // the per-program rules see them: every way a TAG ends, with the
    // characters programname stops at, and from RFC 5424's APP-NAME. Before
    // the long TAGs below: a message that follows one whose dynamic file
    // cannot be opened (name too long) takes another path in rsyslog (see
    // tests/differential.rs).
    for len in [32usize, 33, 40, 64] {
        let name: String = (0..len).map(|i| (b'A' + (i % 26) as u8) as char).collect();
        for (shape, tag) in [
            ("colon", format!("{name}:")),
            ("pid", format!("{name}[77]:")),
            ("no colon", name.clone()),
            ("slash", format!("{name}/sub[1]:")),
            ("slash early", format!("ab/{name}:")),
            ("dot", format!("{name}.d:")),
            ("dash", format!("{}-{}:", &name[..len / 2], &name[len / 2..])),
            ("digits", format!("{}:", "7".repeat(len))),
        ] {
            c.push(format!("<154>Nov 23 12:00:00 node7 {tag} local3 program name {len} {shape}").into_bytes());
        }
        c.push(format!("<158>1 2026-11-23T12:00:00Z host5424 {name} - - - local3 app-name {len} no procid").into_bytes());
        c.push(format!("<158>1 2026-11-23T12:00:00Z host5424 {name}/x 12 - - local3 app-name {len} with slash").into_bytes());
    }
    for len in [31usize, 32, 33, 48, 100, 200, 254, 255, 256, 300, 509, 510, 511, 600] {
        let tag: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        c.push(format!("<154>Nov 23 12:00:00 node7 {tag}[9]: local3 long tag {len}").into_bytes());
        c.push(format!("<154>Nov 23 12:00:00 node7 {tag}: local3 long tag without pid {len}").into_bytes());
        c.push(format!("<30>Nov 23 12:00:00 {tag} app: long hostname {len}").into_bytes());
        if len <= 500 {
            c.push(format!("<158>1 2026-11-23T12:00:00Z host5424 {tag} 1 ID - long app-name {len}").into_bytes());
        }
    }
    c.extend([
        b"<13>1 2026-11-23T12:00:00Z host  7 - - empty app-name".to_vec(),
        b"<13>1 2026-11-23T12:00:00Z host app  - - empty procid".to_vec(),
        b"<13>1 2026-11-23T12:00:00Z host app 1  - empty msgid".to_vec(),
        b"<13>1 2026-11-23T12:00:00Z host app 1 ID  empty sd".to_vec(),
        b"<30>Nov 23 12:00:00 node1 probe: PBS-PROBE renders the malformed template".to_vec(),
        b"<30>Nov 23 12:00:00 node1 zero: 0".to_vec(),
        b"<30>Nov 23 12:00:00 node1 x: x".to_vec(),
    ]);
    // Messages of $MaxMessageSize (8096) bytes and just under it: whole on
    // both sides (only longer ones are split, and rsyslog drops a byte there).
    for len in [8000usize, 8095, 8096] {
        let mut m = format!("<30>Nov 23 12:00:00 node1 atlimit: {len} ").into_bytes();
        let fill = len - m.len();
        m.extend((0..fill).map(|i| b'a' + (i % 26) as u8));
        c.push(m);
    }
    // Reception time: compared through the NoTime template only.
    for m in [
        "no pri at all NOTIME",
        "<999>Nov 23 12:00:00 h t: invalid pri NOTIME",
        "<12x>Nov 23 12:00:00 h t: bad pri digits NOTIME",
        "<>Nov 23 12:00:00 h t: empty pri NOTIME",
        "<13>no timestamp here NOTIME",
        "<13>Nov 99 12:00:00 h t: bad day NOTIME",
        "<13>1 notatime host app 1 ID - NOTIME bad 5424 time",
        "<13>1 - host app 1 ID - NOTIME nil 5424 time",
        "<13>1 - host  - - - NOTIME nil time empty app",
        "<13>hostonly NOTIME",
        "<13> NOTIME",
    ] {
        c.push(m.as_bytes().to_vec());
    }
    c
}

/// Sends the corpus on one plain TCP connection to 127.0.0.1:`port`: mostly
/// LF-framed, some octet-counted.
pub fn send(port: u16, corpus: &[Vec<u8>]) -> Result<()> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).with_context(|| format!("connecting to 127.0.0.1:{port}"))?;
    let mut wire = Vec::new();
    for (i, m) in corpus.iter().enumerate() {
        if i % 5 == 4 {
            wire.extend_from_slice(format!("{} ", m.len()).as_bytes());
            wire.extend_from_slice(m);
        } else {
            wire.extend_from_slice(m);
            wire.push(b'\n');
        }
    }
    s.write_all(&wire).context("sending the corpus")?;
    Ok(())
}

/// Every file under `root`, by its path relative to `root`, with its bytes.
pub fn tree(root: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                out.insert(path.strip_prefix(root)?.to_path_buf(), bytes);
            }
        }
    }
    Ok(out)
}

/// Lines (LF bytes) in `path`; 0 if it does not exist yet.
pub fn line_count(path: &Path) -> usize {
    std::fs::read(path).map(|b| b.iter().filter(|c| **c == b'\n').count()).unwrap_or(0)
}


/// How many messages of `corpus` reach the files with time fields (all but
/// those marked NOTIME).
pub fn timed_count(corpus: &[Vec<u8>]) -> usize {
    corpus.iter().filter(|m| !is_notime(m)).count()
}

/// Marked as having the reception time for its time: see [`rules`].
pub fn is_notime(message: &[u8]) -> bool {
    message.windows(6).any(|w| w == b"NOTIME")
}

/// Waits until `path` holds at least `lines` lines and has not grown for
/// half a second (oversize messages become several lines); gives up after
/// `timeout`. Returns the line count reached.
pub fn wait_for_lines(path: &Path, lines: usize, timeout: Duration) -> usize {
    let start = Instant::now();
    let mut last = (line_count(path), Instant::now());
    while start.elapsed() < timeout {
        let now = line_count(path);
        if now != last.0 {
            last = (now, Instant::now());
        } else if now >= lines && last.1.elapsed() > Duration::from_millis(500) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    line_count(path)
}

/// The trees under `theirs` (rsyslog's) and `ours` must hold the same files,
/// byte for byte; the error names the first file and line that differ.
pub fn compare_trees(theirs: &Path, ours: &Path) -> Result<()> {
    let theirs = tree(theirs)?;
    let ours = tree(ours)?;
    let names = |t: &BTreeMap<PathBuf, Vec<u8>>| t.keys().cloned().collect::<Vec<_>>();
    if names(&ours) != names(&theirs) {
        let only_theirs: Vec<_> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
        let only_ours: Vec<_> = ours.keys().filter(|k| !theirs.contains_key(*k)).collect();
        bail!("not the same files:\nonly rsyslog wrote {only_theirs:?}\nonly ours wrote {only_ours:?}");
    }
    if theirs.len() <= 20 {
        bail!("the rules wrote too small a tree to compare: {:?}", names(&theirs));
    }
    for (path, expected) in &theirs {
        let got = &ours[path];
        if got != expected {
            let e = String::from_utf8_lossy(expected);
            let g = String::from_utf8_lossy(got);
            let first = e.lines().zip(g.lines()).enumerate().find(|(_, (a, b))| a != b);
            match first {
                Some((n, (a, b))) => bail!("{} differs at line {}:\nrsyslog: {a:?}\nours:    {b:?}", path.display(), n + 1),
                None => bail!("{} differs in length: rsyslog {} lines, ours {}", path.display(), e.lines().count(), g.lines().count()),
            }
        }
    }
    Ok(())
}
