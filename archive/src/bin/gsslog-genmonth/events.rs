//! One host's hour: the events of the grid's mix (pbs_mom, cron, nslcd,
//! systemd, the kernel, Kerberos logins, internet attack noise), each as the
//! lines the host's daemons write, until the hour's byte budget is spent.

use crate::rng::{Rng, Weighted};
use crate::tally::{Class, Login};
use crate::world::{uid, Host, World, ONCE, REALUSER, TWICE};

/// Which of the host's files a line goes to (the seed server.conf's rules).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    Syslog,
    Auth,
    Kern,
}

/// A line without its timestamp: `HOSTNAME TAG: MSG`.
pub struct Line {
    /// Microseconds into the hour.
    pub at: u64,
    pub dest: Dest,
    /// A pbs_mom line: the per-service pbs file repeats it.
    pub pbs: bool,
    pub text: String,
}

const FILE_STAMP_LEN: usize = 32;
pub const HOUR_US: u64 = 3_600_000_000;
const REALM: &str = "GRID.EXAMPLE.ORG";

/// Where the planted tokens go: (day, hour, host index, token).
pub fn plantings(ndays: u8, hosts: usize, seed: u64) -> Vec<(u8, u8, usize, &'static str)> {
    let mut rng = Rng::new(seed, &[0x91a7]);
    let mut host = || rng.below(hosts as u64) as usize;
    vec![(ndays / 2, 13, host(), ONCE), (5, 9, host(), TWICE), (ndays - 3, 22, host(), TWICE)]
}

/// The mix of a host's own events (attacks are weighted by exposure).
const KINDS: [f64; 7] = [34.0, 12.0, 6.0, 8.0, 3.0, 2.5, 4.0];
const ATTACK_WEIGHT: f64 = 500.0;
/// How often a user drawn for a line is "realuser" (about 1 line in 10,000).
const REALUSER_P: f64 = 5e-4;

pub struct HourGen<'a> {
    pub world: &'a World,
    pub host: &'a Host,
    pub host_index: usize,
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub hour_of_month: u64,
    pub rng: Rng,
    pub lines: Vec<Line>,
    pub bytes: u64,
    /// The sshd events written: (remote address, or "" for none; class).
    pub counts: Vec<(String, Class)>,
    pub logins: Vec<Login>,
    kinds: Weighted,
}

impl<'a> HourGen<'a> {
    pub fn new(world: &'a World, host_index: usize, year: i32, month: u8, day: u8, hour: u8, seed: u64) -> Self {
        HourGen {
            world,
            host: &world.hosts[host_index],
            host_index,
            year,
            month,
            day,
            hour,
            hour_of_month: u64::from(day) * 24 + u64::from(hour),
            rng: Rng::new(seed, &[u64::from(day), u64::from(hour), host_index as u64]),
            lines: Vec::new(),
            bytes: 0,
            counts: Vec::new(),
            logins: Vec::new(),
            kinds: Weighted::new(&KINDS),
        }
    }

    /// Events until `budget` bytes (with the copies in per-service files).
    pub fn run(&mut self, budget: u64, plant: &[&'static str]) {
        for token in plant {
            let at = self.at();
            let pid = self.pid();
            let tid = self.rng.below(1 << 24);
            self.push(at, Dest::Syslog, format!("nslcd[{pid}]: [{tid:06x}] <passwd=\"{token}\"> no such user"));
        }
        let base: f64 = KINDS.iter().sum();
        let attack = ATTACK_WEIGHT * self.host.exposure;
        // Whole events: the one that crosses the budget stays with the odds
        // of the budget it had left, so each hour writes its budget on
        // average however small it is.
        while self.bytes < budget {
            let mark = (self.lines.len(), self.counts.len(), self.logins.len(), self.bytes);
            if self.rng.unit() * (base + attack) < attack {
                self.attack();
            } else {
                match self.kinds.sample(&mut self.rng) {
                    0 => self.pbs_job(),
                    1 => self.cron(),
                    2 => self.nslcd(),
                    3 => self.systemd(),
                    4 => self.kernel(),
                    5 => self.login(),
                    _ => self.other(),
                }
            }
            if self.bytes > budget {
                let (left, size) = (budget - mark.3, self.bytes - mark.3);
                if self.rng.below(size) >= left {
                    self.lines.truncate(mark.0);
                    self.counts.truncate(mark.1);
                    self.logins.truncate(mark.2);
                    self.bytes = mark.3;
                }
                break;
            }
        }
    }

    fn at(&mut self) -> u64 {
        self.rng.below(HOUR_US)
    }

    fn later(&mut self, at: u64, max_us: u64) -> u64 {
        (at + self.rng.below(max_us)).min(HOUR_US - 1)
    }

    fn pid(&mut self) -> u64 {
        self.rng.range(300, 4_194_000)
    }

    fn port(&mut self) -> u64 {
        self.rng.range(1024, 65535)
    }

    fn user(&mut self) -> String {
        if self.rng.chance(REALUSER_P) {
            REALUSER.to_string()
        } else {
            self.world.user(&mut self.rng).to_string()
        }
    }

    fn key(&mut self) -> String {
        const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        (0..43).map(|_| B64[self.rng.below(64) as usize] as char).collect()
    }

    fn push(&mut self, at: u64, dest: Dest, text: String) {
        self.push_line(Line { at, dest, pbs: false, text });
    }

    fn push_line(&mut self, line: Line) {
        let copies = if line.dest == Dest::Auth || line.pbs { 2 } else { 1 };
        // Counted with the longer (RSYSLOG_FileFormat) timestamp whatever the
        // form, so that both forms carry the same lines.
        let len = self.host.name.len() + 1 + line.text.len() + FILE_STAMP_LEN + 2;
        self.bytes += (len * copies) as u64;
        let text = format!("{} {}", self.host.name, line.text);
        self.lines.push(Line { text, ..line });
    }

    fn time(&self, at: u64) -> String {
        let s = at / 1_000_000;
        format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", self.year, self.month, self.day, self.hour, s / 60, s % 60)
    }

    fn pbs_job(&mut self) {
        let job = self.world.job(&mut self.rng, self.host_index, self.hour_of_month);
        let at = self.at();
        let texts: Vec<String> = match self.rng.below(6) {
            0 => {
                let (user, cpus) = (self.user(), self.rng.range(1, 64));
                let pid = self.pid();
                vec![
                    format!("pbs_mom: LOG_INFO::Job;{job};job owner {user}@{REALM}, {cpus} cpus, queue default@meta-pbs"),
                    format!("pbs_mom: LOG_INFO::Job;{job};Started, pid = {pid}"),
                ]
            }
            1 => vec![
                format!("pbs_mom: LOG_INFO::Job;{job};task 00000001 terminated"),
                format!("pbs_mom: LOG_INFO::Job;{job};Terminated"),
                format!("pbs_mom: LOG_INFO::Job;{job};delete job request received"),
            ],
            2 => {
                let pid = self.pid();
                vec![format!("pbs_mom: LOG_ERROR::Job;{job};kill_job: signal 15 sent to session {pid}")]
            }
            3 => {
                let kb = self.rng.range(1000, 90_000_000);
                vec![format!("pbs_mom: LOG_DEBUG::Job;{job};cgroup memory usage {kb}kB, cput {}s", self.rng.below(400_000))]
            }
            4 => {
                let user = self.user();
                vec![format!("pbs_mom: LOG_INFO::Job;{job};staging in /storage/brno2/home/{user}/jobs/{job}")]
            }
            _ => vec![format!("pbs_mom: LOG_DEBUG::Svr;pbs_mom;update_state: {} jobs running", self.rng.range(1, 40))],
        };
        for text in texts {
            let t = self.later(at, 2_000_000);
            self.push_line(Line { at: t, dest: Dest::Syslog, pbs: true, text });
        }
    }

    fn cron(&mut self) {
        const CMDS: [&str; 5] = [
            "command -v debian-sa1 > /dev/null && debian-sa1 1 1",
            "/usr/local/sbin/check_scratch.sh >/dev/null 2>&1",
            "test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.hourly )",
            "/usr/lib/nagios/plugins/check_pbs_mom --quiet",
            "[ -x /usr/sbin/kdestroy-stale ] && /usr/sbin/kdestroy-stale",
        ];
        let user = if self.rng.chance(0.85) { "root".to_string() } else { self.user() };
        let (at, pid, id) = (self.at(), self.pid(), uid(&user));
        let cmd = if user == "root" {
            self.rng.pick(&CMDS).to_string()
        } else {
            format!("/storage/brno2/home/{user}/bin/sync-results.sh")
        };
        self.push(at, Dest::Auth, format!("CRON[{pid}]: pam_unix(cron:session): session opened for user {user}(uid={id}) by (uid=0)"));
        let t = self.later(at, 5000);
        self.push(t, Dest::Syslog, format!("CRON[{pid}]: ({user}) CMD ({cmd})"));
        let t = self.later(at, 30_000_000);
        self.push(t, Dest::Auth, format!("CRON[{pid}]: pam_unix(cron:session): session closed for user {user}"));
    }

    fn nslcd(&mut self) {
        let (at, pid, tid) = (self.at(), self.rng.range(400, 2000), self.rng.below(1 << 24));
        let user = self.user();
        let text = match self.rng.below(4) {
            0 => format!("nslcd[{pid}]: [{tid:06x}] <passwd=\"{user}\"> ldap_result() failed: Can't contact LDAP server"),
            1 => format!("nslcd[{pid}]: [{tid:06x}] <group/member=\"{user}\"> (re)connected to LDAP server ldaps://ldap{}.grid.example.org", self.rng.range(1, 3)),
            2 => format!("nslcd[{pid}]: [{tid:06x}] <passwd=\"{user}\"> ldap_search_ext() failed: Timed out"),
            _ => format!("nslcd[{pid}]: [{tid:06x}] <authc=\"{user}\"> DEBUG: ldap_initialize(ldaps://ldap{}.grid.example.org)", self.rng.range(1, 3)),
        };
        self.push(at, Dest::Syslog, text);
    }

    fn systemd(&mut self) {
        let at = self.at();
        let text = match self.rng.below(5) {
            0 => "systemd[1]: Starting Daily apt download activities...".to_string(),
            1 => "systemd[1]: apt-daily.service: Succeeded.".to_string(),
            2 => format!("systemd[1]: run-user-{}.mount: Succeeded.", uid(&self.user())),
            3 => format!("systemd[1]: Started User Manager for UID {}.", uid(&self.user())),
            _ => "systemd[1]: Finished Cleanup of Temporary Directories.".to_string(),
        };
        self.push(at, Dest::Syslog, text);
    }

    fn kernel(&mut self) {
        const PROGS: [&str; 6] = ["python3", "java", "R", "gmx_mpi", "matlab", "orca_scf"];
        let at = self.at();
        match self.rng.below(20) {
            0..=9 => {
                let server = format!("storage-{}.grid.example.org", self.rng.pick(&["brno2", "praha1", "plzen1", "du-cesnet"]));
                self.push(at, Dest::Kern, format!("kernel: nfs: server {server} not responding, still trying"));
                let t = self.later(at, 600_000_000);
                self.push(t, Dest::Kern, format!("kernel: nfs: server {server} OK"));
            }
            10..=14 => {
                let (prog, pid) = (*self.rng.pick(&PROGS), self.pid());
                let (addr, ip, sp) = (self.rng.below(1 << 20), self.rng.next_u64() >> 17, self.rng.next_u64() >> 17);
                let base = self.rng.below(1 << 28);
                self.push(at, Dest::Kern, format!("kernel: {prog}[{pid}]: segfault at {addr:x} ip {ip:016x} sp {sp:016x} error 4 in libc-2.31.so[7f{base:x}+1b000]"));
            }
            15..=17 => {
                let (mc, ch) = (self.rng.below(2), self.rng.below(4));
                let (page, bank, row, col) = (self.rng.below(1 << 24), self.rng.below(16), self.rng.below(1 << 16), self.rng.below(1 << 10));
                self.push(at, Dest::Kern, format!("kernel: EDAC MC{mc}: 1 CE memory read error on CPU_SrcID#{mc}_MC#0_Chan#{ch}_DIMM#0 (channel:{ch} slot:0 page:0x{page:x} offset:0x0 grain:32 syndrome:0x0 - area:DRAM err_code:0101:0090 socket:{mc} imc:0 rank:0 bank:{bank} row:0x{row:x} col:0x{col:x})"));
            }
            _ => {
                let (prog, pid, user) = (*self.rng.pick(&PROGS), self.pid(), self.user());
                let (vm, rss) = (self.rng.range(10_000_000, 200_000_000), self.rng.range(5_000_000, 190_000_000));
                self.push(at, Dest::Kern, format!("kernel: {prog} invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=0"));
                let t = self.later(at, 1000);
                self.push(t, Dest::Kern, format!("kernel: Out of memory: Killed process {pid} ({prog}) total-vm:{vm}kB, anon-rss:{rss}kB, file-rss:0kB, shmem-rss:0kB, UID:{} pgtables:{}kB oom_score_adj:0", uid(&user), rss / 500));
                let t = self.later(t, 200_000);
                self.push(t, Dest::Kern, format!("kernel: oom_reaper: reaped process {pid} ({prog}), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB"));
            }
        }
    }

    fn other(&mut self) {
        let (at, pid) = (self.at(), self.rng.range(300, 2000));
        let text = match self.rng.below(3) {
            0 => format!("chronyd[{pid}]: Selected source 10.42.255.{} (ntp{}.grid.example.org)", self.rng.range(1, 3), self.rng.range(1, 3)),
            1 => format!("smartd[{pid}]: Device: /dev/sda [SAT], SMART Usage Attribute: 194 Temperature_Celsius changed from {} to {}", 30 + self.rng.below(10), 30 + self.rng.below(10)),
            _ => format!("rsyslogd[{pid}]: [origin software=\"rsyslogd\" swVersion=\"8.2302.0\" x-pid=\"{pid}\" x-info=\"https://www.rsyslog.com\"] rsyslogd was HUPed"),
        };
        self.push(at, Dest::Syslog, text);
    }

    /// A grid user's login from a frontend: Kerberos (gssapi-with-mic, with
    /// its Authorized line first, as sshd writes them) or a key.
    fn login(&mut self) {
        let (user, src, port, pid, at) = (self.user(), self.world.login_source(&mut self.rng).to_string(), self.port(), self.pid(), self.at());
        let gss = self.rng.chance(0.8);
        let (method, principal) = if gss {
            let principal = if self.rng.chance(0.9) { format!("{user}@{REALM}") } else { format!("{user}@EINFRA.EXAMPLE.CZ") };
            self.push(at, Dest::Auth, format!("sshd[{pid}]: Authorized to {user}, krb5 principal {principal} (krb5_kuserok)"));
            self.counts.push((String::new(), Class::Authorized));
            ("gssapi-with-mic", principal)
        } else {
            ("publickey", String::new())
        };
        let t = self.later(at, 3000);
        let suffix = if gss { String::new() } else { format!(": ED25519 SHA256:{}", self.key()) };
        self.push(t, Dest::Auth, format!("sshd[{pid}]: Accepted {method} for {user} from {src} port {port} ssh2{suffix}"));
        self.counts.push((src.clone(), Class::Accepted));
        self.logins.push(Login { time: self.time(t), host: self.host.ip.clone(), user: user.clone(), method, remote: src.clone(), principal });
        let id = uid(&user);
        let session = self.rng.range(1, 90_000);
        self.push(t + 1, Dest::Auth, format!("sshd[{pid}]: pam_unix(sshd:session): session opened for user {user}(uid={id}) by (uid=0)"));
        self.push(t + 2, Dest::Auth, format!("systemd-logind[612]: New session {session} of user {user}."));
        self.push(t + 3, Dest::Syslog, format!("systemd[1]: Started Session {session} of user {user}."));
        let end = self.later(t, 1_800_000_000);
        self.push(end, Dest::Auth, format!("sshd[{pid}]: Received disconnect from {src} port {port}:11: disconnected by user"));
        self.counts.push((src.clone(), Class::Disconnect));
        self.push(end, Dest::Auth, format!("sshd[{pid}]: Disconnected from user {user} {src} port {port}"));
        self.push(end, Dest::Auth, format!("sshd[{pid}]: pam_unix(sshd:session): session closed for user {user}"));
        self.push(end, Dest::Auth, format!("systemd-logind[612]: Session {session} logged out. Waiting for processes to exit."));
    }

    /// Internet noise against an exposed host: dictionary attacks, root
    /// password guessing, scanners, refused connections.
    fn attack(&mut self) {
        let (ip, port, pid) = (self.world.attacker(&mut self.rng).to_string(), self.port(), self.pid());
        let mut t = self.at();
        let say = |g: &mut Self, t: &mut u64, class: Option<Class>, text: String| {
            g.push(*t, Dest::Auth, format!("sshd[{pid}]: {text}"));
            if let Some(class) = class {
                g.counts.push((ip.clone(), class));
            }
            *t = g.later(*t, 2_000_000);
        };
        match self.rng.below(100) {
            0..=34 => {
                let user = self.world.attack_user(&mut self.rng);
                let user = if user == "root" { "admin" } else { user };
                say(self, &mut t, Some(Class::Invalid), format!("Invalid user {user} from {ip} port {port}"));
                say(self, &mut t, None, "pam_unix(sshd:auth): check pass; user unknown".to_string());
                say(self, &mut t, None, format!("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}"));
                for _ in 0..self.rng.range(1, 3) {
                    say(self, &mut t, Some(Class::Failed), format!("Failed password for invalid user {user} from {ip} port {port} ssh2"));
                }
                if self.rng.chance(0.6) {
                    say(self, &mut t, Some(Class::Disconnect), format!("Received disconnect from {ip} port {port}:11: Bye Bye [preauth]"));
                    say(self, &mut t, None, format!("Disconnected from invalid user {user} {ip} port {port} [preauth]"));
                } else {
                    say(self, &mut t, Some(Class::Closed), format!("Connection closed by invalid user {user} {ip} port {port} [preauth]"));
                }
            }
            35..=64 => {
                let tries = self.rng.range(1, 6);
                say(self, &mut t, None, format!("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user=root"));
                for _ in 0..tries {
                    say(self, &mut t, Some(Class::Failed), format!("Failed password for root from {ip} port {port} ssh2"));
                }
                if tries == 6 {
                    say(self, &mut t, None, format!("error: maximum authentication attempts exceeded for root from {ip} port {port} ssh2 [preauth]"));
                    say(self, &mut t, None, format!("Disconnecting authenticating user root {ip} port {port}: Too many authentication failures [preauth]"));
                } else if self.rng.chance(0.5) {
                    say(self, &mut t, Some(Class::Closed), format!("Connection closed by authenticating user root {ip} port {port} [preauth]"));
                } else {
                    say(self, &mut t, Some(Class::Disconnect), format!("Received disconnect from {ip} port {port}:11: Bye Bye [preauth]"));
                    say(self, &mut t, None, format!("Disconnected from authenticating user root {ip} port {port} [preauth]"));
                }
            }
            65..=76 => say(self, &mut t, Some(Class::Identification), format!("Did not receive identification string from {ip} port {port}")),
            77..=89 => say(self, &mut t, Some(Class::Closed), format!("Connection closed by {ip} port {port} [preauth]")),
            90..=93 => say(self, &mut t, Some(Class::Refused), format!("refused connect from {ip} ({ip})")),
            _ => {
                let user = self.world.attack_user(&mut self.rng);
                let key = self.key();
                say(self, &mut t, Some(Class::Failed), format!("Failed publickey for {user} from {ip} port {port} ssh2: RSA SHA256:{key}"));
                say(self, &mut t, Some(Class::Closed), format!("Connection closed by authenticating user {user} {ip} port {port} [preauth]"));
            }
        }
    }
}
