use std::sync::atomic::{AtomicI64, Ordering};

/// The only source of "now" in the core. Production reads the system clock; tests may
/// move it forward (never back) so that expiry is testable without sleeping.
#[derive(Debug, Default)]
pub struct Clock {
    offset_secs: AtomicI64,
}

impl Clock {
    /// Unix time in whole seconds.
    pub fn now(&self) -> i64 {
        let system = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        system.saturating_add(self.offset_secs.load(Ordering::Relaxed))
    }

    pub fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs.max(0), Ordering::Relaxed);
    }
}

/// RFC 3339 UTC rendering of a unix time, as every body shows timestamps.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}
