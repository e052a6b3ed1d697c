//! A throwaway MIT Kerberos realm on loopback.
//!
//! [`TestRealm::start`] creates a KDC database in a temp dir with its own
//! `krb5.conf` and `kdc.conf` (reached through `KRB5_CONFIG` and
//! `KRB5_KDC_PROFILE`, DNS canonicalisation off), starts `krb5kdc` on a free
//! 127.0.0.1 port, and hands out keytabs and the environment of a server
//! process and of client processes. The KDC stops when the realm is dropped.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::net::{free_port, wait_for_listener};

pub const REALM: &str = "GSSLOG.TEST";

/// One environment variable for a child process (or this one).
pub type EnvVar = (String, String);

pub struct TestRealm {
    dir: tempfile::TempDir,
    kdc_port: u16,
    kdc: Option<Child>,
    /// The KDC's `max_life` for every ticket (`None`: MIT's default, 24 h).
    max_ticket_life: Option<Duration>,
    /// Anonymous PKINIT set up (a test CA, the KDC's certificate).
    anonymous: bool,
}

impl TestRealm {
    /// Creates the realm and starts its KDC. The service principal
    /// `host/localhost` is always present in [`TestRealm::server_keytab`].
    pub fn start() -> Result<Self> {
        TestRealm::start_with(None, false)
    }

    /// A realm whose KDC issues no ticket valid for longer than
    /// `max_ticket_life` (the realm's `max_life`, which the principals it
    /// creates take over), with a clock skew allowance of 5 s: for tests of
    /// what happens when tickets end.
    pub fn with_max_ticket_life(max_ticket_life: Duration) -> Result<Self> {
        TestRealm::start_with(Some(max_ticket_life), false)
    }

    /// A realm that issues anonymous tickets (RFC 8062 anonymous PKINIT:
    /// `kinit -n`), with a throwaway CA and KDC certificate made by openssl.
    /// Needs Debian's krb5-pkinit.
    pub fn with_anonymous() -> Result<Self> {
        TestRealm::start_with(None, true)
    }

    fn start_with(max_ticket_life: Option<Duration>, anonymous: bool) -> Result<Self> {
        for tool in ["krb5kdc", "kdb5_util", "kadmin.local"] {
            if which(tool).is_none() {
                bail!("{tool} not found: run tests/setup.sh (Debian packages krb5-kdc, krb5-admin-server)");
            }
        }
        let dir = tempfile::Builder::new().prefix("gsslog-realm-").tempdir()?;
        let kdc_port = free_port()?;
        let realm = TestRealm { dir, kdc_port, kdc: None, max_ticket_life, anonymous };
        if anonymous {
            realm.make_pkinit_certificates()?;
        }
        realm.write_config(&format!("127.0.0.1:{kdc_port}"))?;
        fs::create_dir_all(realm.path("rcache"))?;
        realm.run(Command::new(tool("kdb5_util")).args(["create", "-s", "-r", REALM, "-P", "masterpw"]))?;
        let mut realm = realm;
        realm.add_service("host/localhost")?;
        if anonymous {
            realm.kadmin("addprinc -randkey WELLKNOWN/ANONYMOUS")?;
        }
        realm.start_kdc()?;
        Ok(realm)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn krb5_conf(&self) -> PathBuf {
        self.path("krb5.conf")
    }

    pub fn kdc_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.kdc_port))
    }

    /// The keytab every service principal is added to (`KRB5_KTNAME`).
    pub fn server_keytab(&self) -> PathBuf {
        self.path("server.keytab")
    }

    /// Adds a service principal such as `host/collector.test` to the server keytab.
    pub fn add_service(&self, principal: &str) -> Result<()> {
        self.kadmin(&format!("addprinc -randkey {principal}"))?;
        self.kadmin(&format!("ktadd -k {} {principal}", self.server_keytab().display()))
    }

    /// Adds a service principal whose only key is of `enctype` (for example
    /// `aes128-cts-hmac-sha1-96`), so that tickets for it carry a session key
    /// of that enctype.
    pub fn add_service_with_enctype(&self, principal: &str, enctype: &str) -> Result<()> {
        self.kadmin(&format!("addprinc -randkey -e {enctype}:normal {principal}"))?;
        // The KDC assumes every service takes aes256-sha1 session keys unless told.
        self.kadmin(&format!("setstr {principal} session_enctypes {enctype}"))?;
        self.kadmin(&format!("ktadd -k {} -e {enctype}:normal {principal}", self.server_keytab().display()))
    }

    /// Creates a client principal with its own keytab; returns the keytab path.
    pub fn add_client(&self, principal: &str) -> Result<PathBuf> {
        let keytab = self.client_keytab(principal);
        self.kadmin(&format!("addprinc -randkey {principal}"))?;
        self.kadmin(&format!("ktadd -k {} {principal}", keytab.display()))?;
        Ok(keytab)
    }

    /// The environment of an initiator holding an anonymous ticket: `kinit -n`
    /// into a ccache of its own (no keytab). Only in [`TestRealm::with_anonymous`].
    pub fn anonymous_client_env(&self) -> Result<Vec<EnvVar>> {
        let ccache = format!("FILE:{}", self.path("ccache-anonymous").display());
        let env = vec![env("KRB5_CONFIG", self.krb5_conf()), env("KRB5CCNAME", &ccache)];
        let out = Command::new(tool("kinit")).arg("-n").envs(env.clone()).stdin(Stdio::null()).output().context("kinit -n")?;
        if !out.status.success() {
            bail!("kinit -n failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(env)
    }

    /// A CA and a KDC certificate for anonymous PKINIT, as MIT's PKINIT
    /// guide makes them: the KDC's carries the pkinit-KPKdc EKU and
    /// `krbtgt/REALM@REALM` as its subject alternative name.
    fn make_pkinit_certificates(&self) -> Result<()> {
        let extensions = "[kdc_cert]\n\
             basicConstraints=CA:FALSE\n\
             keyUsage=nonRepudiation,digitalSignature,keyEncipherment,keyAgreement\n\
             extendedKeyUsage=1.3.6.1.5.2.3.5\n\
             subjectKeyIdentifier=hash\n\
             authorityKeyIdentifier=keyid,issuer\n\
             subjectAltName=otherName:1.3.6.1.5.2.2;SEQUENCE:kdc_princ_name\n\
             [kdc_princ_name]\n\
             realm=EXP:0,GeneralString:REALM_NAME\n\
             principal_name=EXP:1,SEQUENCE:kdc_principal_seq\n\
             [kdc_principal_seq]\n\
             name_type=EXP:0,INTEGER:2\n\
             name_string=EXP:1,SEQUENCE:kdc_principals\n\
             [kdc_principals]\n\
             princ1=GeneralString:krbtgt\n\
             princ2=GeneralString:REALM_NAME\n"
            .replace("REALM_NAME", REALM);
        fs::write(self.path("pkinit.cnf"), extensions)?;
        let p = |name: &str| self.path(name).display().to_string();
        let openssl = |args: &[&str]| -> Result<()> {
            let out = Command::new(tool("openssl")).args(args).stdin(Stdio::null()).output().context("running openssl")?;
            if !out.status.success() {
                bail!("openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
            }
            Ok(())
        };
        openssl(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &p("ca.key"), "-out", &p("ca.pem"), "-days", "2", "-subj", "/CN=gsslog test CA"])?;
        openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &p("kdc.key"), "-out", &p("kdc.csr"), "-subj", "/CN=gsslog test KDC"])?;
        openssl(&[
            "x509", "-req", "-in", &p("kdc.csr"), "-CA", &p("ca.pem"), "-CAkey", &p("ca.key"), "-CAcreateserial", "-out", &p("kdc.pem"),
            "-days", "2", "-extfile", &p("pkinit.cnf"), "-extensions", "kdc_cert",
        ])
    }

    /// Deletes a principal from the KDC's database: tickets already issued
    /// stay valid until they end, no new ones are issued.
    pub fn delete_principal(&self, principal: &str) -> Result<()> {
        self.kadmin(&format!("delprinc -force {principal}"))
    }

    /// The keytab [`TestRealm::add_client`] wrote for `principal`.
    pub fn client_keytab(&self, principal: &str) -> PathBuf {
        self.path(&format!("client-{}.keytab", principal.replace('/', "_")))
    }

    /// The environment of an acceptor process: config, keytab, replay cache.
    pub fn server_env(&self) -> Vec<EnvVar> {
        vec![
            env("KRB5_CONFIG", self.krb5_conf()),
            env("KRB5_KTNAME", format!("FILE:{}", self.server_keytab().display())),
            env("KRB5RCACHEDIR", self.path("rcache")),
        ]
    }

    /// The environment of an initiator process holding `principal`'s keytab:
    /// MIT fetches (and renews) tickets from `KRB5_CLIENT_KTNAME` into its own
    /// file ccache, so no kinit is needed.
    pub fn client_env(&self, principal: &str) -> Vec<EnvVar> {
        vec![
            env("KRB5_CONFIG", self.krb5_conf()),
            env("KRB5_CLIENT_KTNAME", format!("FILE:{}", self.client_keytab(principal).display())),
            env("KRB5CCNAME", format!("FILE:{}", self.path(&format!("ccache-{}", principal.replace('/', "_"))).display())),
        ]
    }

    /// Sets both environments in this process, for tests that run the initiator
    /// and the acceptor in-process. Call it before any GSS call and before
    /// starting threads that might read the environment.
    pub fn install_env(&self, client_principal: &str) {
        for (k, v) in self.server_env().into_iter().chain(self.client_env(client_principal)) {
            std::env::set_var(k, v);
        }
    }

    /// Points every client of this realm at another KDC address (for example a
    /// listener that never answers) by rewriting `krb5.conf`.
    pub fn redirect_clients_to(&self, kdc: SocketAddr) -> Result<()> {
        self.write_config(&kdc.to_string())
    }

    /// Stops the KDC (the realm's files stay); established tickets keep working.
    pub fn stop_kdc(&mut self) {
        if let Some(mut kdc) = self.kdc.take() {
            let _ = kdc.kill();
            let _ = kdc.wait();
        }
    }

    pub fn start_kdc(&mut self) -> Result<()> {
        if self.kdc.is_some() {
            return Ok(());
        }
        let log = fs::File::create(self.path("krb5kdc.stderr"))?;
        let child = Command::new(tool("krb5kdc"))
            .args(["-n", "-r", REALM])
            .envs(self.admin_env())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting krb5kdc")?;
        self.kdc = Some(child);
        wait_for_listener(self.kdc_addr(), Duration::from_secs(10)).context("krb5kdc did not come up")
    }

    fn write_config(&self, kdc: &str) -> Result<()> {
        let d = self.dir.path().display();
        let krb5 = format!(
            "[libdefaults]\n\
             \tdefault_realm = {REALM}\n\
             \tdns_lookup_kdc = false\n\
             \tdns_lookup_realm = false\n\
             \tdns_canonicalize_hostname = false\n\
             \trdns = false\n\
             \tqualify_shortname = \"\"\n\
             \tudp_preference_limit = 1\n\
             \tticket_lifetime = 10h\n\
             {clockskew}\
             [realms]\n\
             \t{REALM} = {{\n\t\tkdc = {kdc}\n{anchors}\t}}\n\
             [domain_realm]\n\
             \tlocalhost = {REALM}\n\
             \t.test = {REALM}\n",
            anchors = self.pkinit_lines(false),
            // MIT lets an acceptor's context live the clock skew allowance
            // (5 min by default) past its ticket: a short-ticket realm gets a
            // short allowance too, so that contexts end soon after tickets.
            clockskew = if self.max_ticket_life.is_some() { "\tclockskew = 5\n" } else { "" }
        );
        let kdc_conf = format!(
            "[kdcdefaults]\n\
             \tkdc_listen = 127.0.0.1:{port}\n\
             \tkdc_tcp_listen = 127.0.0.1:{port}\n\
             [realms]\n\
             \t{REALM} = {{\n\
             \t\tdatabase_name = {d}/principal\n\
             \t\tkey_stash_file = {d}/stash\n\
             \t\tacl_file = {d}/kadm5.acl\n\
             \t\tkdc_listen = 127.0.0.1:{port}\n\
             \t\tkdc_tcp_listen = 127.0.0.1:{port}\n\
             {max_life}\
             {pkinit}\
             \t}}\n\
             [logging]\n\
             \tkdc = FILE:{d}/kdc.log\n",
            port = self.kdc_port,
            max_life = self.max_ticket_life.map_or(String::new(), |l| format!("\t\tmax_life = {}s\n", l.as_secs())),
            pkinit = self.pkinit_lines(true)
        );
        fs::write(self.krb5_conf(), krb5)?;
        fs::write(self.path("kdc.conf"), kdc_conf)?;
        fs::write(self.path("kadm5.acl"), "")?;
        Ok(())
    }

    /// The PKINIT lines of the realm's stanza: the CA for both sides, the
    /// KDC's identity for the KDC. Empty unless anonymous tickets are on.
    fn pkinit_lines(&self, kdc: bool) -> String {
        if !self.anonymous {
            return String::new();
        }
        let p = |name: &str| self.path(name).display().to_string();
        let mut lines = format!("\t\tpkinit_anchors = FILE:{}\n", p("ca.pem"));
        if kdc {
            lines.push_str(&format!("\t\tpkinit_identity = FILE:{},{}\n", p("kdc.pem"), p("kdc.key")));
        }
        lines
    }

    fn admin_env(&self) -> Vec<EnvVar> {
        vec![env("KRB5_CONFIG", self.krb5_conf()), env("KRB5_KDC_PROFILE", self.path("kdc.conf"))]
    }

    fn kadmin(&self, query: &str) -> Result<()> {
        self.run(Command::new(tool("kadmin.local")).args(["-r", REALM, "-q", query]))
    }

    fn run(&self, cmd: &mut Command) -> Result<()> {
        let out = cmd.envs(self.admin_env()).stdin(Stdio::null()).output().with_context(|| format!("{cmd:?}"))?;
        if !out.status.success() || String::from_utf8_lossy(&out.stderr).contains("error") {
            bail!("{cmd:?} failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }
}

impl Drop for TestRealm {
    fn drop(&mut self) {
        self.stop_kdc();
    }
}

fn env(key: &str, value: impl AsRef<std::ffi::OsStr>) -> EnvVar {
    (key.to_string(), value.as_ref().to_string_lossy().into_owned())
}

/// Finds an executable on PATH or in the sbin directories (Debian puts the KDC
/// tools in /usr/sbin, which a non-login PATH may lack).
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin"])
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file());
    found
}

/// The path of `name` if it can be found, else `name` for PATH lookup.
pub fn tool(name: &str) -> PathBuf {
    which(name).unwrap_or_else(|| PathBuf::from(name))
}

/// The client principal that [`TestRealm::shared`] installs in this process.
pub const SHARED_CLIENT: &str = "client";

static SHARED: std::sync::OnceLock<TestRealm> = std::sync::OnceLock::new();
static SHARED_KDC_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::ffi::c_int;
}

extern "C" fn kill_shared_kdc() {
    let pid = SHARED_KDC_PID.load(std::sync::atomic::Ordering::SeqCst);
    if pid != 0 {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
}

impl TestRealm {
    /// One realm per test process, with `client` as the in-process initiator
    /// and this process's environment set for both sides. A static is never
    /// dropped, so the KDC is stopped by an exit handler instead.
    pub fn shared() -> &'static TestRealm {
        SHARED.get_or_init(|| {
            let realm = TestRealm::start().expect("starting the test realm");
            realm.add_client(SHARED_CLIENT).expect("creating the client principal");
            if let Some(kdc) = &realm.kdc {
                SHARED_KDC_PID.store(kdc.id(), std::sync::atomic::Ordering::SeqCst);
                // SAFETY: registers a plain extern "C" fn with no captured state.
                unsafe { atexit(kill_shared_kdc) };
            }
            realm.install_env(SHARED_CLIENT);
            realm
        })
    }
}
