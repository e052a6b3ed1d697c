//! Counters a daemon shows while it runs, in two formats:
//!
//! - rsyslog's impstats legacy lines (`$ModLoad impstats`, `$PStatInterval`),
//!   written to the daemon's own log every interval, one line per object:
//!   `NAME: origin=ORIGIN key=value key=value ` exactly as rsyslog's
//!   `statsobj` prints them (trailing space included);
//! - the Prometheus text format (version 0.0.4, which OpenMetrics scrapers
//!   read too), served by [`crate::metrics_http`] on `$GssMetricsListen`.
//!
//! A daemon registers [`StatsObject`]s once at start: each has a name (the
//! impstats line's), an origin, labels (for Prometheus), and values read
//! when a line or a scrape is made, from the atomics where they are counted.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;


/// Whether a value only grows (a counter) or goes up and down (a gauge).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only grows (Prometheus name ends in `_total`).
    Counter,
    /// Goes up and down.
    Gauge,
}

type Read = Box<dyn Fn() -> u64 + Send + Sync>;

struct Value {
    key: &'static str,
    help: &'static str,
    kind: Kind,
    read: Read,
}

/// One impstats line: a named set of values.
pub struct StatsObject {
    name: String,
    origin: &'static str,
    family: &'static str,
    labels: Vec<(&'static str, String)>,
    values: Vec<Value>,
}

impl StatsObject {
    /// An object whose impstats line starts `NAME: origin=ORIGIN`, and whose
    /// Prometheus names start `gsslog_FAMILY_`, with `labels` on each sample.
    pub fn new(name: impl Into<String>, origin: &'static str, family: &'static str, labels: Vec<(&'static str, String)>) -> Self {
        StatsObject { name: name.into(), origin, family, labels, values: Vec::new() }
    }

    /// A counter read from `read` (`key` as impstats names it: dots allowed).
    pub fn counter(mut self, key: &'static str, help: &'static str, read: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.values.push(Value { key, help, kind: Kind::Counter, read: Box::new(read) });
        self
    }

    /// A gauge read from `read`.
    pub fn gauge(mut self, key: &'static str, help: &'static str, read: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.values.push(Value { key, help, kind: Kind::Gauge, read: Box::new(read) });
        self
    }

    /// A counter that is an atomic somewhere (a static, or inside an `Arc`).
    pub fn counter_of(self, key: &'static str, help: &'static str, atomic: Arc<AtomicU64>) -> Self {
        self.counter(key, help, move || atomic.load(Ordering::Relaxed))
    }

    /// rsyslog's legacy line: `NAME: origin=ORIGIN k=v k=v `.
    pub fn legacy_line(&self) -> String {
        let mut line = format!("{}: origin={} ", self.name, self.origin);
        for v in &self.values {
            let _ = write!(line, "{}={} ", v.key, (v.read)());
        }
        line
    }
}

/// The prometheus name of a value: `gsslog_FAMILY_KEY` (dots become
/// underscores), `_total` after a counter's.
fn metric_name(family: &str, v: &Value) -> String {
    let key: String = v.key.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    match v.kind {
        Kind::Counter => format!("gsslog_{family}_{key}_total"),
        Kind::Gauge => format!("gsslog_{family}_{key}"),
    }
}

fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Writes Prometheus samples of its own (`# HELP`, `# TYPE` and samples),
/// for series whose label sets change while the daemon runs.
pub type Samples = Box<dyn Fn(&mut String) + Send + Sync>;

/// The body of an extra page of the metrics endpoint, made at each request.
pub type Page = Box<dyn Fn() -> String + Send + Sync>;

/// Every object a daemon registered.
#[derive(Default)]
pub struct Registry {
    objects: Mutex<Vec<StatsObject>>,
    samples: Mutex<Vec<Samples>>,
    pages: Mutex<Vec<(&'static str, &'static str, Page)>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Arc<Registry> {
        Arc::new(Registry::default())
    }

    /// Adds an object; its line and samples follow those registered before.
    pub fn register(&self, object: StatsObject) {
        self.objects.lock().unwrap_or_else(|p| p.into_inner()).push(object);
    }

    /// Adds samples written after the objects' (not on impstats lines).
    pub fn register_samples(&self, samples: Samples) {
        self.samples.lock().unwrap_or_else(|p| p.into_inner()).push(samples);
    }

    /// Adds a page `path` (`GET`) of content type `kind` to the endpoint.
    pub fn add_page(&self, path: &'static str, kind: &'static str, page: Page) {
        self.pages.lock().unwrap_or_else(|p| p.into_inner()).push((path, kind, page));
    }

    /// The content type and body of the extra page at `path`, if there is one.
    pub fn page(&self, path: &str) -> Option<(&'static str, String)> {
        let pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        pages.iter().find(|(p, _, _)| *p == path).map(|(_, kind, page)| (*kind, page()))
    }

    /// One impstats legacy line per object, in registration order.
    pub fn legacy_lines(&self) -> Vec<String> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner()).iter().map(StatsObject::legacy_line).collect()
    }

    /// The Prometheus text format: for each metric, `# HELP` and `# TYPE`
    /// once, then a sample per object that has it.
    pub fn prometheus_text(&self) -> String {
        let objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        // Metric names in first-seen order, each with its samples.
        let mut families: Vec<(String, &Value, Vec<String>)> = Vec::new();
        for o in objects.iter() {
            let labels = if o.labels.is_empty() {
                String::new()
            } else {
                let inner: Vec<String> = o.labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape_label(v))).collect();
                format!("{{{}}}", inner.join(","))
            };
            for v in &o.values {
                let name = metric_name(o.family, v);
                let sample = format!("{name}{labels} {}", (v.read)());
                match families.iter_mut().find(|(n, _, _)| *n == name) {
                    Some((_, _, samples)) => samples.push(sample),
                    None => families.push((name, v, vec![sample])),
                }
            }
        }
        let mut text = String::new();
        for (name, v, samples) in families {
            let kind = match v.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(text, "# HELP {name} {}", v.help);
            let _ = writeln!(text, "# TYPE {name} {kind}");
            for s in samples {
                let _ = writeln!(text, "{s}");
            }
        }
        drop(objects);
        for write in self.samples.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            write(&mut text);
        }
        text
    }

    /// Logs the impstats lines every `interval` until the task is dropped.
    pub async fn log_every(self: Arc<Self>, interval: Duration) {
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            for line in self.legacy_lines() {
                tracing::info!(target: "impstats", "{line}");
            }
        }
    }
}

/// The statistics directives both daemons take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    /// `$ModLoad impstats`.
    pub impstats: bool,
    /// `$PStatInterval` (seconds; rsyslog's default 300).
    pub interval: Duration,
    /// Extension `$GssMetricsListen ADDR:PORT`: the Prometheus endpoint; off by default.
    pub listen: Option<SocketAddr>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings { impstats: false, interval: Duration::from_secs(300), listen: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> (Arc<Registry>, Arc<AtomicU64>) {
        let sent = Arc::new(AtomicU64::new(0));
        let r = Registry::new();
        r.register(
            StatsObject::new("fwd", "omgssapi", "shipper", vec![("queue", "fwd".into())])
                .counter_of("forwarded", "Messages forwarded.", sent.clone())
                .gauge("queue.size", "Records in the queue.", || 7),
        );
        r.register(StatsObject::new("other", "omgssapi", "shipper", vec![("queue", "a\"b".into())]).counter("forwarded", "x", || 1));
        (r, sent)
    }

    #[test]
    fn legacy_lines_are_rsyslogs() {
        let (r, sent) = registry();
        sent.store(42, Ordering::Relaxed);
        assert_eq!(r.legacy_lines(), ["fwd: origin=omgssapi forwarded=42 queue.size=7 ", "other: origin=omgssapi forwarded=1 "]);
    }

    #[test]
    fn prometheus_text_has_help_type_and_one_sample_per_object() {
        let (r, sent) = registry();
        sent.store(3, Ordering::Relaxed);
        assert_eq!(
            r.prometheus_text(),
            "# HELP gsslog_shipper_forwarded_total Messages forwarded.\n\
             # TYPE gsslog_shipper_forwarded_total counter\n\
             gsslog_shipper_forwarded_total{queue=\"fwd\"} 3\n\
             gsslog_shipper_forwarded_total{queue=\"a\\\"b\"} 1\n\
             # HELP gsslog_shipper_queue_size Records in the queue.\n\
             # TYPE gsslog_shipper_queue_size gauge\n\
             gsslog_shipper_queue_size{queue=\"fwd\"} 7\n"
        );
    }

    #[test]
    fn extra_samples_follow_and_pages_answer() {
        let (r, _) = registry();
        r.register_samples(Box::new(|text| text.push_str("# TYPE x gauge\nx{a=\"1\"} 2\n")));
        r.add_page("/x", "application/json", Box::new(|| "{}".into()));
        assert!(r.prometheus_text().ends_with("gsslog_shipper_queue_size{queue=\"fwd\"} 7\n# TYPE x gauge\nx{a=\"1\"} 2\n"));
        assert_eq!(r.page("/x"), Some(("application/json", "{}".to_string())));
        assert_eq!(r.page("/y"), None);
    }
}
