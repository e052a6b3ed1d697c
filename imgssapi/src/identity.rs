//! Who may send, and as which host: what the collector decides about an
//! authenticated session right after its handshake.
//!
//! - [`PrincipalPattern`]: `$InputGSSServerAllowedPrincipal`. A session whose
//!   principal matches none of the patterns is refused. A pattern always
//!   names its realm exactly, so a principal of another realm (cross-realm
//!   trust) matches only a pattern that names that realm.
//! - [`HostBindingMode`] and [`HostMap`]: `$InputGSSServerHostPrincipalBinding`
//!   and `$InputGSSServerHostMapFile`. A `host/NAME@REALM` principal, REALM
//!   being the collector's own (its default realm), may send only from the
//!   addresses of NAME: those the map file gives for it, or else those a
//!   forward DNS lookup of NAME returns ([`ForwardLookups`], on the DNS
//!   threads of [`crate::dns`], cached for a bounded time; a lookup that
//!   does not answer within [`crate::dns::LOOKUP_WAIT`] is a mismatch). On a mismatch (another address, or a host principal of
//!   another realm) the session is refused, or accepted with its messages
//!   marked (`gss-host-binding` = `mismatch`). Under `refuse` only a match
//!   gets in: a principal that is not exactly `host/NAME@REALM` (`HOST/n1`,
//!   `host/n1/x`, a bare `n1`, a user) is refused too, since nothing ties it
//!   to an address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use gsswire::Session;
use syslog::{HostBinding, ProtectionSeen, Provenance};

/// Who may send and as which host (see [`crate::identity`]); shared by every
/// GSS listener.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    /// `$InputGSSServerAllowedPrincipal` (repeatable): empty lets in every
    /// principal the keytab's service accepts, as rsyslog does.
    pub allowed_principals: Vec<PrincipalPattern>,
    /// `$InputGSSServerAllowAnonymous` (default off).
    pub allow_anonymous: bool,
    /// `$InputGSSServerHostPrincipalBinding` (default off).
    pub host_binding: HostBindingMode,
    /// `$InputGSSServerHostMapFile`.
    pub host_map: Option<HostMap>,
    /// `$InputGSSServerExpireSessions` (default off): end a session when its
    /// context expires.
    pub expire_sessions: bool,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        IdentitySettings {
            allowed_principals: Vec::new(),
            allow_anonymous: false,
            host_binding: HostBindingMode::Off,
            host_map: None,
            expire_sessions: false,
        }
    }
}

impl IdentitySettings {
    /// Whether `principal` may open a session.
    pub fn permits(&self, principal: &str) -> bool {
        self.allowed_principals.is_empty() || self.allowed_principals.iter().any(|p| p.matches(principal))
    }
}

/// Why an authenticated session is refused right after its handshake.
#[derive(Debug, thiserror::Error)]
pub enum NotAdmitted {
    #[error("principal not allowed by $InputGSSServerAllowedPrincipal: {principal}")]
    PrincipalNotAllowed { principal: String },
    #[error("host principal sends from an address not its own ($InputGSSServerHostPrincipalBinding refuse): {principal}: {reason}")]
    HostMismatch { principal: String, reason: String },
    #[error("not a host/NAME@REALM principal, so not bound to an address ($InputGSSServerHostPrincipalBinding refuse admits only host principals sending from their own address): {principal}")]
    NotAHostPrincipal { principal: String },
}

/// The forward lookups of every listener, shared.
static LOOKUPS: LazyLock<ForwardLookups> = LazyLock::new(ForwardLookups::system);
/// The collector's own realm: only its host principals can be bound.
static LOCAL_REALM: OnceLock<Option<String>> = OnceLock::new();

/// The collector's own realm, read once (MIT reads its configuration: on a
/// blocking thread).
async fn local_realm() -> Option<&'static str> {
    if let Some(realm) = LOCAL_REALM.get() {
        return realm.as_deref();
    }
    let realm = tokio::task::spawn_blocking(gsswire::gss::default_realm).await.ok().flatten();
    LOCAL_REALM.get_or_init(|| realm).as_deref()
}

/// Decides whether an authenticated session may go on and, if so, what its
/// messages say about their sender (the host binding check may ask DNS, on
/// the DNS threads, within a deadline).
pub async fn admit(settings: &IdentitySettings, principal: String, peer: IpAddr) -> Result<Provenance, NotAdmitted> {
    if !settings.permits(&principal) {
        return Err(NotAdmitted::PrincipalNotAllowed { principal });
    }
    let verdict = if settings.host_binding == HostBindingMode::Off || host_of(&principal).is_none() {
        BindingVerdict { binding: HostBinding::Unchecked, reason: None }
    } else {
        let realm = local_realm().await;
        check_host_binding(settings.host_binding, settings.host_map.as_ref(), &LOOKUPS, realm, &principal, peer).await
    };
    match (verdict.binding, settings.host_binding) {
        (HostBinding::Mismatch, HostBindingMode::Refuse) => {
            return Err(NotAdmitted::HostMismatch { principal, reason: verdict.reason.unwrap_or_default() });
        }
        (HostBinding::Unchecked, HostBindingMode::Refuse) => return Err(NotAdmitted::NotAHostPrincipal { principal }),
        _ => {}
    }
    if let Some(reason) = &verdict.reason {
        tracing::warn!(%peer, principal, reason, "host principal sends from an address not its own: its messages are marked");
    }
    Ok(Provenance { principal, protection: ProtectionSeen::Encryption, host_binding: verdict.binding })
}

/// When the collector ends a session because its context expired:
/// `$InputGSSServerExpireSessions on` and a context with an end time.
pub fn expiry(settings: &IdentitySettings, session: &Session) -> Option<tokio::time::Instant> {
    settings.expire_sessions.then(|| session.expires_at()).flatten().map(tokio::time::Instant::from_std)
}

/// One `$InputGSSServerAllowedPrincipal` entry: `NAME@REALM`, where NAME may
/// hold `*` (any run of characters, `/` included) and REALM is exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalPattern {
    name: String,
    realm: String,
}

impl PrincipalPattern {
    pub fn parse(text: &str) -> Result<PrincipalPattern, String> {
        let text = text.trim();
        let Some((name, realm)) = split_principal(text) else {
            return Err(format!(
                "'{text}' names no realm: write NAME@REALM (a principal of another realm matches only a pattern naming that realm)"
            ));
        };
        if name.is_empty() || realm.is_empty() {
            return Err(format!("'{text}' is not NAME@REALM"));
        }
        if realm.contains('*') {
            return Err(format!("'{text}': the realm must be named exactly, without '*'"));
        }
        Ok(PrincipalPattern { name: name.to_string(), realm: realm.to_string() })
    }

    /// Kerberos principals are case-sensitive; so is the match.
    pub fn matches(&self, principal: &str) -> bool {
        match split_principal(principal) {
            Some((name, realm)) => realm == self.realm && glob(&self.name, name),
            None => false,
        }
    }
}

impl std::fmt::Display for PrincipalPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.realm)
    }
}

/// Name and realm of a displayed principal: split at the last `@` that is
/// not escaped (`\@` may stand inside a name).
fn split_principal(principal: &str) -> Option<(&str, &str)> {
    let bytes = principal.as_bytes();
    let at = (0..bytes.len()).rev().find(|&i| bytes[i] == b'@' && (i == 0 || bytes[i - 1] != b'\\'))?;
    Some((&principal[..at], &principal[at + 1..]))
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The NAME of a `host/NAME@REALM` principal; `None` for any other form.
pub fn host_of(principal: &str) -> Option<&str> {
    let (name, _realm) = split_principal(principal)?;
    let host = name.strip_prefix("host/")?;
    (!host.is_empty() && !host.contains('/')).then_some(host)
}

/// `$InputGSSServerHostPrincipalBinding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostBindingMode {
    /// Not checked (the default).
    Off,
    /// A host principal sending from another address is refused.
    Refuse,
    /// It is accepted, and its messages say `gss-host-binding` = `mismatch`.
    Mark,
}

impl std::str::FromStr for HostBindingMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Ok(HostBindingMode::Off),
            "refuse" => Ok(HostBindingMode::Refuse),
            "mark" => Ok(HostBindingMode::Mark),
            other => Err(format!("'{other}' is not off, refuse or mark")),
        }
    }
}

/// `$InputGSSServerHostMapFile`: `NAME ADDRESS...` per line, `#` comments.
/// A name in the map is checked against its addresses only, never DNS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostMap {
    hosts: HashMap<String, Vec<IpAddr>>,
}

impl HostMap {
    /// Reads the map; an error names the file and line.
    pub fn load(path: &Path) -> Result<HostMap, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        HostMap::parse(&text).map_err(|(line, why)| format!("{}:{line}: {why}", path.display()))
    }

    fn parse(text: &str) -> Result<HostMap, (usize, String)> {
        let mut hosts: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("");
            let mut fields = line.split_whitespace();
            let Some(name) = fields.next() else { continue };
            let mut addrs = Vec::new();
            for field in fields {
                let ip = daemon::directives::parse_ip(field)
                    .ok_or_else(|| (i + 1, format!("'{field}' is not an IP address")))?;
                addrs.push(canonical(ip));
            }
            if addrs.is_empty() {
                return Err((i + 1, format!("'{name}' has no address")));
            }
            hosts.entry(name.to_ascii_lowercase()).or_default().extend(addrs);
        }
        Ok(HostMap { hosts })
    }

    fn addresses(&self, host: &str) -> Option<&[IpAddr]> {
        self.hosts.get(&host.to_ascii_lowercase()).map(Vec::as_slice)
    }
}

use crate::dns::canonical;
use crate::lookups::{Lookups, NoAnswer, Pool, Rules};

/// How long a forward lookup's answer is used.
const LOOKUP_TTL: Duration = Duration::from_secs(60);
/// How long a failed lookup is remembered (a failing DNS server is not asked
/// again for every session).
const FAILED_LOOKUP_TTL: Duration = Duration::from_secs(10);
/// Most names in the cache; past that the least recently used goes.
const MAX_CACHED: usize = 4096;

type Answer = Result<Vec<IpAddr>, String>;

/// Forward DNS lookups of host principals' names, cached for a bounded time,
/// on the DNS threads (never the blocking pool of the handshakes), each
/// session waiting at most a deadline.
pub struct ForwardLookups {
    lookups: Lookups<String, Answer>,
    wait: Duration,
}

impl ForwardLookups {
    /// With the system resolver, on the collector's DNS threads.
    fn system() -> ForwardLookups {
        ForwardLookups::new(Arc::new(|name: &String| crate::dns::forward_lookup(name)), crate::dns::POOL.clone(), crate::dns::LOOKUP_WAIT)
    }

    fn new(lookup: Arc<dyn Fn(&String) -> Answer + Send + Sync>, pool: Arc<Pool>, wait: Duration) -> ForwardLookups {
        let ttl = |answer: &Answer| if answer.is_ok() { LOOKUP_TTL } else { FAILED_LOOKUP_TTL };
        ForwardLookups { lookups: Lookups::new(pool, Rules { lookup, ttl, max_cached: MAX_CACHED, wait }), wait }
    }

    /// The addresses `host` resolves to; an error when it does not resolve,
    /// or when the DNS threads are busy or do not answer in time.
    pub async fn resolve(&self, host: &str) -> Answer {
        match self.lookups.get(host.to_ascii_lowercase()).await {
            Ok(answer) => answer,
            Err(NoAnswer::Busy) => Err(format!("{host}: DNS lookups busy, the name could not be checked")),
            Err(NoAnswer::TimedOut) => Err(format!("{host}: DNS did not answer within {:?}", self.wait)),
        }
    }

    /// Lookups that ask no DNS server: each name has the answer given, or
    /// does not resolve (a test sends nothing off this machine).
    #[cfg(test)]
    fn knowing(answers: Vec<(&str, Answer)>) -> ForwardLookups {
        let answers: std::collections::HashMap<String, Answer> = answers.into_iter().map(|(h, a)| (h.to_ascii_lowercase(), a)).collect();
        let lookup = move |name: &String| answers.get(name).cloned().unwrap_or_else(|| Err(format!("{name} does not resolve")));
        ForwardLookups::new(Arc::new(lookup), Arc::new(Pool::new("test-dns", 1, 16)), Duration::from_secs(3600))
    }
}

/// What the host binding check found for one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingVerdict {
    pub binding: HostBinding,
    /// Why it is a mismatch (for the log).
    pub reason: Option<String>,
}

/// Checks a session's principal against the address it sends from. Only
/// `host/NAME` principals are checked (others are `unchecked`); with the
/// mode off nothing is. A host principal of a realm other than `local_realm`
/// is a mismatch: its NAME is another realm's to vouch for.
pub async fn check_host_binding(
    mode: HostBindingMode,
    map: Option<&HostMap>,
    lookups: &ForwardLookups,
    local_realm: Option<&str>,
    principal: &str,
    peer: IpAddr,
) -> BindingVerdict {
    let unchecked = BindingVerdict { binding: HostBinding::Unchecked, reason: None };
    if mode == HostBindingMode::Off {
        return unchecked;
    }
    let Some(host) = host_of(principal) else { return unchecked };
    let realm = split_principal(principal).map_or("", |(_, realm)| realm);
    if local_realm != Some(realm) {
        let ours = local_realm.unwrap_or("(none: no default realm)");
        return BindingVerdict {
            binding: HostBinding::Mismatch,
            reason: Some(format!("realm {realm} is not this collector's realm {ours}")),
        };
    }
    let peer = canonical(peer);
    let (addresses, source) = match map.and_then(|m| m.addresses(host)) {
        Some(a) => (Ok(a.to_vec()), "the host map"),
        None => (lookups.resolve(host).await, "DNS"),
    };
    match addresses {
        Ok(a) if a.contains(&peer) => BindingVerdict { binding: HostBinding::Match, reason: None },
        Ok(a) => BindingVerdict {
            binding: HostBinding::Mismatch,
            reason: Some(format!("{peer} is not an address of {host} ({source} gives {a:?})")),
        },
        Err(why) => BindingVerdict { binding: HostBinding::Mismatch, reason: Some(why) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_name_their_realm_and_match_case_sensitively() {
        let hosts = PrincipalPattern::parse("host/*@GSSLOG.TEST").unwrap();
        assert!(hosts.matches("host/n1.test@GSSLOG.TEST"));
        assert!(!hosts.matches("alice@GSSLOG.TEST"));
        assert!(!hosts.matches("host/n1.test@OTHER.TEST"), "another realm matches only when named");
        assert!(!hosts.matches("HOST/n1.test@GSSLOG.TEST"));
        let exact = PrincipalPattern::parse("alice@GSSLOG.TEST").unwrap();
        assert!(exact.matches("alice@GSSLOG.TEST") && !exact.matches("alice2@GSSLOG.TEST"));
        let middle = PrincipalPattern::parse("host/*.grid.test@GSSLOG.TEST").unwrap();
        assert!(middle.matches("host/n1.grid.test@GSSLOG.TEST"));
        assert!(!middle.matches("host/n1.grid.test.evil@GSSLOG.TEST"));
        assert!(PrincipalPattern::parse("host/*").unwrap_err().contains("names no realm"));
        assert!(PrincipalPattern::parse("host/*@*").unwrap_err().contains("without '*'"));
        assert!(PrincipalPattern::parse("@GSSLOG.TEST").is_err());
    }

    #[test]
    fn glob_edges() {
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
        assert!(glob("ab*b", "abb") && !glob("ab*ab", "ab"));
        assert!(glob("exact", "exact") && !glob("exact", "exactly"));
    }

    #[test]
    fn only_host_principals_have_a_host() {
        assert_eq!(host_of("host/n1.test@GSSLOG.TEST"), Some("n1.test"));
        assert_eq!(host_of("alice@GSSLOG.TEST"), None);
        assert_eq!(host_of("host/a/b@GSSLOG.TEST"), None);
        assert_eq!(host_of("nfs/n1.test@GSSLOG.TEST"), None);
    }

    #[tokio::test]
    async fn the_map_file_decides_for_the_names_it_has() {
        let map = HostMap::parse("# comment\nn1.test 127.0.0.2 ::ffff:127.0.0.3\n\nN2.test 127.0.0.4 # trailing\n").unwrap();
        let lookups = ForwardLookups::knowing(vec![]);
        let check = |p: &'static str, ip: &'static str| {
            check_host_binding(HostBindingMode::Refuse, Some(&map), &lookups, Some("R"), p, ip.parse().unwrap())
        };
        assert_eq!(check("host/n1.test@R", "127.0.0.2").await.binding, HostBinding::Match);
        assert_eq!(check("host/n1.test@R", "127.0.0.3").await.binding, HostBinding::Match);
        assert_eq!(check("host/n2.test@R", "::ffff:127.0.0.4").await.binding, HostBinding::Match);
        let wrong = check("host/n1.test@R", "127.0.0.9").await;
        assert_eq!(wrong.binding, HostBinding::Mismatch);
        assert!(wrong.reason.unwrap().contains("127.0.0.9 is not an address of n1.test (the host map"));
        assert_eq!(check("alice@R", "127.0.0.9").await.binding, HostBinding::Unchecked);
        for odd in ["HOST/n1.test@R", "host/n1.test/x@R", "n1.test@R", "host/@R"] {
            assert_eq!(check(odd, "127.0.0.2").await.binding, HostBinding::Unchecked, "{odd} is not a host principal");
        }
        let foreign = check("host/n1.test@OTHER.REALM", "127.0.0.2").await;
        assert_eq!(foreign.binding, HostBinding::Mismatch, "the map's address, but another realm's principal");
        assert!(foreign.reason.unwrap().contains("realm OTHER.REALM is not this collector's realm R"));
        let no_realm = check_host_binding(HostBindingMode::Mark, Some(&map), &lookups, None, "host/n1.test@R", "127.0.0.2".parse().unwrap()).await;
        assert_eq!(no_realm.binding, HostBinding::Mismatch, "without a default realm no host principal is vouched for");
        let off = check_host_binding(HostBindingMode::Off, Some(&map), &lookups, Some("R"), "host/n1.test@R", "127.0.0.9".parse().unwrap()).await;
        assert_eq!(off.binding, HostBinding::Unchecked);
        assert_eq!(HostMap::parse("n1 not-an-ip\n").unwrap_err(), (1, "'not-an-ip' is not an IP address".into()));
        assert_eq!(HostMap::parse("\nlonely\n").unwrap_err(), (2, "'lonely' has no address".into()));
    }

    #[tokio::test]
    async fn names_that_do_not_resolve_are_a_mismatch_with_the_reason() {
        let lookups = ForwardLookups::knowing(vec![
            ("no-such-host.invalid", Err("no-such-host.invalid: Name or service not known".into())),
            ("localhost", Ok(vec!["127.0.0.1".parse().unwrap()])),
        ]);
        let v = check_host_binding(HostBindingMode::Mark, None, &lookups, Some("R"), "host/no-such-host.invalid@R", "127.0.0.1".parse().unwrap()).await;
        assert_eq!(v.binding, HostBinding::Mismatch);
        assert!(v.reason.unwrap().contains("no-such-host.invalid"));
        let local = check_host_binding(HostBindingMode::Mark, None, &lookups, Some("R"), "host/localhost@R", "127.0.0.1".parse().unwrap()).await;
        assert_eq!(local.binding, HostBinding::Match);
    }

    /// The forward lookup runs on the DNS threads, not the blocking pool,
    /// and a DNS server that does not answer costs the session at most the
    /// wait: the binding is then a mismatch (it could not be checked).
    #[tokio::test]
    async fn a_forward_lookup_that_does_not_answer_in_time_is_a_mismatch_and_runs_on_the_dns_threads() {
        let (release, stalled) = std::sync::mpsc::channel::<()>();
        let stalled = std::sync::Mutex::new(stalled);
        let thread = std::sync::Mutex::new(String::new());
        let thread = Arc::new(thread);
        let seen = thread.clone();
        let lookup = move |_: &String| {
            *seen.lock().unwrap() = std::thread::current().name().unwrap_or_default().to_string();
            let _ = stalled.lock().unwrap().recv();
            Ok(vec!["127.0.0.1".parse().unwrap()])
        };
        let lookups = ForwardLookups::new(Arc::new(lookup), Arc::new(Pool::new("test-dns", 1, 4)), Duration::from_millis(50));
        let v = check_host_binding(HostBindingMode::Refuse, None, &lookups, Some("R"), "host/slow.test@R", "127.0.0.1".parse().unwrap()).await;
        assert_eq!(v.binding, HostBinding::Mismatch);
        assert!(v.reason.as_deref().unwrap_or_default().contains("DNS did not answer within"), "{v:?}");
        assert!(thread.lock().unwrap().starts_with("test-dns-"), "ran on {:?}", thread.lock().unwrap());
        release.send(()).unwrap();
    }
}
