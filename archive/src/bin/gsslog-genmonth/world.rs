//! Who and what the month is about: the 700 hosts, the grid's users, the
//! internet's attackers and their favourite user names, the job ids, and
//! the rare tokens planted for the search benchmark. Built once from the
//! seed; every hour of every host draws from it.

use crate::rng::{Rng, Zipf};

/// Tokens planted with counts the manifest reports. None of them can
/// occur by accident: no generated name or number contains them.
pub const ONCE: &str = "qv4hx7jz";
pub const TWICE: &str = "mw2pk9tf";
/// The seed's "realuser": a grid user in about 1 line of 10,000.
pub const REALUSER: &str = "realuser";
pub const PLANTED: [&str; 3] = [ONCE, TWICE, REALUSER];

/// A worker node: its address (the collector's IP folder), its name in
/// its own lines, how much it logs and how exposed it is to the internet.
pub struct Host {
    pub ip: String,
    pub name: String,
    pub weight: f64,
    pub exposure: f64,
}

pub struct World {
    pub hosts: Vec<Host>,
    pub users: Vec<String>,
    pub user_rank: Zipf,
    pub attackers: Vec<String>,
    pub attacker_rank: Zipf,
    pub attack_users: Vec<&'static str>,
    pub attack_user_rank: Zipf,
    /// The frontends and admins' machines users log in from.
    pub login_sources: Vec<String>,
    pub login_source_rank: Zipf,
    pub job_rank: Zipf,
}

const ATTACK_USERS: [&str; 40] = [
    "root", "admin", "test", "user", "ubuntu", "oracle", "postgres", "git", "guest", "ftpuser", "pi", "support",
    "deploy", "hadoop", "mysql", "www", "nagios", "dev", "jenkins", "ansible", "centos", "debian", "minecraft",
    "teamspeak", "steam", "docker", "backup", "tomcat", "elastic", "kafka", "ts3", "odoo", "sysadmin", "server",
    "student", "web", "vagrant", "zabbix", "apache", "es",
];

const SYLLABLES: [&str; 32] = [
    "no", "va", "ke", "kr", "al", "pe", "tr", "sv", "ob", "od", "ma", "ri", "ja", "zd", "en", "ek", "mi", "ch", "la",
    "ho", "ru", "bo", "da", "si", "st", "ko", "vi", "pa", "ne", "lu", "ba", "to",
];

impl World {
    pub fn new(seed: u64, hosts: usize) -> World {
        let mut rng = Rng::new(seed, &[0x0770_0000]);
        let hosts = (0..hosts)
            .map(|i| {
                // Log volume varies by host (a log-normal-ish spread).
                let spread: f64 = (0..4).map(|_| rng.unit()).sum::<f64>() - 2.0;
                // A few hosts face the internet; most see only the odd scan.
                let exposure = if rng.chance(0.12) { 1.0 / (1.0 + rng.below(20) as f64) } else { 0.004 };
                Host {
                    ip: format!("10.42.{}.{}", i / 200, 10 + i % 200),
                    name: format!("wn{:03}.grid.example.org", i + 1),
                    weight: (spread * 0.6).exp(),
                    exposure,
                }
            })
            .collect();
        let mut users: Vec<String> = Vec::new();
        while users.len() < 3000 {
            let n = rng.range(2, 3);
            let mut name: String = (0..n).map(|_| *rng.pick(&SYLLABLES)).collect();
            if rng.chance(0.3) {
                name.push((b'a' + rng.below(26) as u8) as char);
            }
            if !PLANTED.iter().any(|t| name.contains(t)) && !users.contains(&name) {
                users.push(name);
            }
        }
        let mut attackers = Vec::with_capacity(40_000);
        while attackers.len() < 40_000 {
            let a = rng.range(1, 223);
            if matches!(a, 10 | 127 | 100 | 169 | 172 | 192) {
                continue;
            }
            attackers.push(format!("{a}.{}.{}.{}", rng.below(256), rng.below(256), rng.range(1, 254)));
        }
        let login_sources = (0..60).map(|i| format!("10.43.{}.{}", i / 20, 2 + i % 20)).collect();
        World {
            hosts,
            user_rank: Zipf::new(users.len(), 1.0),
            users,
            attacker_rank: Zipf::new(attackers.len(), 1.05),
            attackers,
            attack_users: ATTACK_USERS.to_vec(),
            attack_user_rank: Zipf::new(ATTACK_USERS.len(), 1.2),
            login_sources,
            login_source_rank: Zipf::new(60, 0.8),
            job_rank: Zipf::new(200, 1.1),
        }
    }

    pub fn user(&self, rng: &mut Rng) -> &str {
        &self.users[self.user_rank.sample(rng)]
    }

    pub fn attacker(&self, rng: &mut Rng) -> &str {
        &self.attackers[self.attacker_rank.sample(rng)]
    }

    pub fn attack_user(&self, rng: &mut Rng) -> &'static str {
        self.attack_users[self.attack_user_rank.sample(rng)]
    }

    pub fn login_source(&self, rng: &mut Rng) -> &str {
        &self.login_sources[self.login_source_rank.sample(rng)]
    }

    /// A job running on `host` in hour `hour_of_month`: each host has its own
    /// jobs (a few span hosts), and its recent jobs are the likely ones.
    pub fn job(&self, rng: &mut Rng, host: usize, hour_of_month: u64) -> String {
        let newest = 9_000_000 + hour_of_month * 1500;
        let host = if rng.chance(0.05) { rng.below(self.hosts.len() as u64) } else { host as u64 };
        let back = self.job_rank.sample(rng) as u64 * self.hosts.len() as u64 + host;
        format!("{}.meta-pbs.grid.example.org", newest.saturating_sub(back))
    }
}

/// A user's uid, stable for the month.
pub fn uid(user: &str) -> u32 {
    if user == "root" {
        return 0;
    }
    20_000 + user.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % 40_000
}
