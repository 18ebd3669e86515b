//! Settings for browsers and attackers: cookies, CORS and limits.

use serde::{Deserialize, Serialize};

use super::{Duration, SettingError};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cookies {
    /// `Secure` and the `__Host-` name prefix. Turn off only for plain-http localhost.
    pub secure: bool,
}

impl Default for Cookies {
    fn default() -> Self {
        Self { secure: true }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Cors {
    /// Exact origins (scheme://host[:port]) allowed to call with credentials. None by default.
    #[serde(deserialize_with = "super::list_or_csv")]
    pub allowed_origins: Vec<String>,
}

impl Cors {
    pub fn validate(&self) -> Result<(), SettingError> {
        for origin in &self.allowed_origins {
            let ok = (origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.ends_with('/')
                && origin.matches('/').count() == 2;
            if !ok {
                return Err(SettingError {
                    key: "cors.allowed_origins",
                    reason: format!("`{origin}` is not an origin like https://app.example.com"),
                });
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Requests per client address per `window`; 0 turns the limit off.
    pub requests: u64,
    /// Requests per client address per `window` to health, JWKS and discovery endpoints.
    pub ops_requests: u64,
    pub window: Duration,
    /// Failed logins for one account from one source before it is locked for a while.
    pub account_source_failures: u64,
    /// The first lock; each further lock doubles, up to `lock_max`.
    pub lock_base: Duration,
    pub lock_max: Duration,
    /// Failed logins for one account per hour, from all sources together.
    pub account_failures_per_hour: u64,
    /// Failed logins from one source per hour, across all accounts.
    pub source_failures_per_hour: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            requests: 1000,
            ops_requests: 20_000,
            window: Duration::secs(3600),
            account_source_failures: 5,
            lock_base: Duration::secs(60),
            lock_max: Duration::secs(900),
            account_failures_per_hour: 100,
            source_failures_per_hour: 100,
        }
    }
}

impl Limits {
    pub fn validate(&self) -> Result<(), SettingError> {
        let bad = |key, reason: &str| {
            Err(SettingError {
                key,
                reason: reason.into(),
            })
        };
        if self.window.0.is_zero() {
            return bad("limits.window", "must be longer than zero");
        }
        if self.account_source_failures == 0
            || self.account_failures_per_hour == 0
            || self.source_failures_per_hour == 0
        {
            return bad("limits", "failure limits must be at least 1");
        }
        if self.lock_base.0 > self.lock_max.0 {
            return bad("limits.lock_base", "must not exceed limits.lock_max");
        }
        Ok(())
    }
}
