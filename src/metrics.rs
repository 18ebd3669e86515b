//! Prometheus metrics: a small process-wide registry, rendered in the text exposition format.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{Arc, Mutex, MutexGuard, OnceLock},
    time::Duration,
};

/// Histogram bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn add(&mut self, other: &Histogram) {
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *mine += theirs;
        }
        self.sum += other.sum;
        self.count += other.count;
    }
}

/// A series: metric name and its rendered label set.
type Key = (&'static str, String);

/// What one thread has recorded (or, merged, the whole process).
#[derive(Default)]
struct Shard {
    counters: BTreeMap<Key, u64>,
    histograms: BTreeMap<Key, Histogram>,
}

impl Shard {
    fn merge_into(&self, total: &mut Shard) {
        for (key, n) in &self.counters {
            *total.counters.entry(key.clone()).or_default() += n;
        }
        for (key, h) in &self.histograms {
            total.histograms.entry(key.clone()).or_default().add(h);
        }
    }
}

type SharedShard = Arc<Mutex<Shard>>;

/// Every thread records into a shard of its own, so the request path never waits for
/// another request thread; only a scrape, which merges all shards, takes each lock briefly.
#[derive(Default)]
struct Shards {
    live: Vec<SharedShard>,
    /// What threads that have exited recorded, so their counts are not lost.
    retired: Shard,
}

fn shards() -> MutexGuard<'static, Shards> {
    static SHARDS: OnceLock<Mutex<Shards>> = OnceLock::new();
    lock(SHARDS.get_or_init(Mutex::default))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// This thread's shard; registered on first use, retired when the thread exits.
struct LocalShard(SharedShard);

impl LocalShard {
    fn register() -> Self {
        let shard = SharedShard::default();
        shards().live.push(Arc::clone(&shard));
        Self(shard)
    }
}

impl Drop for LocalShard {
    fn drop(&mut self) {
        let mut all = shards();
        all.live.retain(|s| !Arc::ptr_eq(s, &self.0));
        let Shards { retired, .. } = &mut *all;
        lock(&self.0).merge_into(retired);
    }
}

thread_local! {
    static LOCAL: LocalShard = LocalShard::register();
}

/// Runs `record` on this thread's shard.
fn record(record: impl FnOnce(&mut Shard)) {
    LOCAL.with(|local| record(&mut lock(&local.0)));
}

/// Everything recorded so far, summed over the threads.
fn merged() -> Shard {
    let all = shards();
    let mut total = Shard::default();
    all.retired.merge_into(&mut total);
    for shard in &all.live {
        lock(shard).merge_into(&mut total);
    }
    total
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let value = value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let _ = write!(out, "{name}=\"{value}\"");
    }
    out
}

/// Adds one to a counter.
pub fn count(name: &'static str, pairs: &[(&str, &str)]) {
    let key = (name, labels(pairs));
    record(|shard| *shard.counters.entry(key).or_default() += 1);
}

/// Records one observation in a histogram.
pub fn observe(name: &'static str, pairs: &[(&str, &str)], took: Duration) {
    let secs = took.as_secs_f64();
    let key = (name, labels(pairs));
    record(|shard| {
        let h = shard.histograms.entry(key).or_default();
        for (bound, bucket) in BUCKETS.iter().zip(h.buckets.iter_mut()) {
            if secs <= *bound {
                *bucket += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    });
}

/// What a series measures, for `# HELP`.
fn help(name: &str) -> &'static str {
    match name {
        "castellan_http_requests_total" => "HTTP requests by route template, method and status.",
        "castellan_http_request_duration_seconds" => "HTTP request latency by route template.",
        "castellan_logins_total" => "Password logins by outcome.",
        "castellan_refreshes_total" => "Refresh-token exchanges by outcome.",
        "castellan_refresh_reuse_detections_total" => {
            "Outdated refresh tokens presented again; each revokes its session."
        }
        "castellan_throttled_requests_total" => "Requests answered 429, by route template.",
        "castellan_password_hash_wait_seconds" => {
            "Time a password hash waited for a hashing thread."
        }
        _ => "",
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn series(name: &str, labels: &str, suffix: &str, extra: &str) -> String {
    let all = match (labels.is_empty(), extra.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!("{{{labels}}}"),
        (true, false) => format!("{{{extra}}}"),
        (false, false) => format!("{{{labels},{extra}}}"),
    };
    format!("{name}{suffix}{all}")
}

/// A value read at scrape time.
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    /// Rendered labels, empty for none.
    pub labels: String,
    pub value: f64,
}

impl Gauge {
    pub fn new(name: &'static str, help: &'static str, value: f64) -> Self {
        Self::labelled(name, help, &[], value)
    }

    pub fn labelled(
        name: &'static str,
        help: &'static str,
        pairs: &[(&str, &str)],
        value: f64,
    ) -> Self {
        Self {
            name,
            help,
            labels: labels(pairs),
            value,
        }
    }
}

/// The whole registry plus `gauges`, in the Prometheus text format.
pub fn render(gauges: &[Gauge]) -> String {
    let registry = merged();
    let mut out = String::new();
    let mut last = "";
    for ((name, labels), value) in &registry.counters {
        if *name != last {
            header(&mut out, name, "counter", help(name));
            last = name;
        }
        let _ = writeln!(out, "{} {value}", series(name, labels, "", ""));
    }
    for ((name, labels), h) in &registry.histograms {
        if *name != last {
            header(&mut out, name, "histogram", help(name));
            last = name;
        }
        for (bound, n) in BUCKETS.iter().zip(h.buckets.iter()) {
            let le = format!("le=\"{bound}\"");
            let _ = writeln!(out, "{} {n}", series(name, labels, "_bucket", &le));
        }
        let inf = series(name, labels, "_bucket", "le=\"+Inf\"");
        let _ = writeln!(out, "{inf} {}", h.count);
        let _ = writeln!(out, "{} {}", series(name, labels, "_sum", ""), h.sum);
        let _ = writeln!(out, "{} {}", series(name, labels, "_count", ""), h.count);
    }
    for g in gauges {
        // Series of one gauge (one per label set) are consecutive and share one header.
        if g.name != last {
            header(&mut out, g.name, "gauge", g.help);
            last = g.name;
        }
        let _ = writeln!(out, "{} {}", series(g.name, &g.labels, "", ""), g.value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_escaped_labels() {
        // Names of their own: the registry is global and other tests record real series.
        count("castellan_test_total", &[("outcome", "a\"b")]);
        observe(
            "castellan_test_wait_seconds",
            &[],
            Duration::from_millis(20),
        );
        let text = render(&[
            Gauge::new("castellan_test_gauge", "test", 3.0),
            Gauge::labelled("castellan_test_age", "test", &[("kid", "a")], 1.0),
            Gauge::labelled("castellan_test_age", "test", &[("kid", "b")], 2.0),
        ]);
        assert!(text.contains("castellan_test_total{outcome=\"a\\\"b\"} 1"));
        assert!(text.contains("castellan_test_wait_seconds_bucket{le=\"0.01\"} 0"));
        assert!(text.contains("castellan_test_wait_seconds_bucket{le=\"0.025\"} 1"));
        assert!(text.contains("castellan_test_wait_seconds_count 1"));
        assert!(text.contains("# TYPE castellan_test_gauge gauge\ncastellan_test_gauge 3"));
        assert!(text.contains(
            "# TYPE castellan_test_age gauge\ncastellan_test_age{kid=\"a\"} 1\ncastellan_test_age{kid=\"b\"} 2\n"
        ));
    }

    #[test]
    fn counts_from_every_thread_are_summed_including_threads_that_exited() {
        let name = "castellan_test_threads_total";
        let workers: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(move || (0..25).for_each(|_| count(name, &[]))))
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        count(name, &[]);
        assert!(render(&[]).contains("castellan_test_threads_total 101\n"));
    }
}
