//! Settings of the Prometheus endpoint.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::SettingError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    /// Serves `GET /metrics`.
    pub enabled: bool,
    /// A separate listener for `/metrics`; unset serves it on `server.bind` instead.
    pub bind: Option<String>,
    /// A bearer token scrapers must present; unset lets anyone who can reach it scrape.
    pub token: Option<String>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: None,
            token: None,
        }
    }
}

impl Metrics {
    pub fn validate(&self) -> Result<(), SettingError> {
        if self
            .bind
            .as_ref()
            .is_some_and(|b| b.parse::<SocketAddr>().is_err())
        {
            return Err(SettingError {
                key: "metrics.bind",
                reason: "expected an address like 127.0.0.1:9100".into(),
            });
        }
        if self.token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(SettingError {
                key: "metrics.token",
                reason: "must be at least 16 bytes".into(),
            });
        }
        Ok(())
    }
}
