//! Prometheus metrics: a small process-wide registry, rendered in the text exposition format.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{Mutex, OnceLock},
    time::Duration,
};

/// Histogram bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// A series: metric name and its rendered label set.
type Key = (&'static str, String);

#[derive(Default)]
struct Registry {
    counters: BTreeMap<Key, u64>,
    histograms: BTreeMap<Key, Histogram>,
}

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
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
    *registry()
        .counters
        .entry((name, labels(pairs)))
        .or_default() += 1;
}

/// Records one observation in a histogram.
pub fn observe(name: &'static str, pairs: &[(&str, &str)], took: Duration) {
    let secs = took.as_secs_f64();
    let mut registry = registry();
    let h = registry
        .histograms
        .entry((name, labels(pairs)))
        .or_default();
    for (bound, bucket) in BUCKETS.iter().zip(h.buckets.iter_mut()) {
        if secs <= *bound {
            *bucket += 1;
        }
    }
    h.sum += secs;
    h.count += 1;
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
    pub value: f64,
}

/// The whole registry plus `gauges`, in the Prometheus text format.
pub fn render(gauges: &[Gauge]) -> String {
    let registry = registry();
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
        header(&mut out, g.name, "gauge", g.help);
        let _ = writeln!(out, "{} {}", g.name, g.value);
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
        let text = render(&[Gauge {
            name: "castellan_test_gauge",
            help: "test",
            value: 3.0,
        }]);
        assert!(text.contains("castellan_test_total{outcome=\"a\\\"b\"} 1"));
        assert!(text.contains("castellan_test_wait_seconds_bucket{le=\"0.01\"} 0"));
        assert!(text.contains("castellan_test_wait_seconds_bucket{le=\"0.025\"} 1"));
        assert!(text.contains("castellan_test_wait_seconds_count 1"));
        assert!(text.contains("# TYPE castellan_test_gauge gauge\ncastellan_test_gauge 3"));
    }
}
