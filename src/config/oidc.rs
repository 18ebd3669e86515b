//! The OAuth 2.0 / OpenID Connect provider: where it is mounted and how long its state lives.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Duration, SettingError};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Oidc {
    /// Path prefix of the OAuth endpoints; empty turns the provider off.
    pub prefix: String,
    /// Lifetime of an authorization code (at most 60 s).
    pub code_ttl: Duration,
    /// How long a browser stays signed in on the hosted pages (single sign-on).
    pub sso_ttl: Duration,
    /// Lifetime of ID tokens.
    pub id_token_ttl: Duration,
    /// A directory whose `login.html`, `mfa.html`, `consent.html`, `error.html` and
    /// `message.html` replace the built-in hosted pages.
    pub templates_dir: Option<PathBuf>,
    /// Rotate the signing keys this often; unset means only on demand.
    pub key_rotation: Option<Duration>,
}

impl Default for Oidc {
    fn default() -> Self {
        Self {
            prefix: "/oauth".into(),
            code_ttl: Duration::secs(60),
            sso_ttl: Duration::secs(12 * 3600),
            id_token_ttl: Duration::secs(3600),
            templates_dir: None,
            key_rotation: None,
        }
    }
}

impl Oidc {
    pub fn validate(&self) -> Result<(), SettingError> {
        super::check_prefix("oidc.prefix", &self.prefix)?;
        if self.code_ttl.as_secs() < 1 || self.code_ttl.as_secs() > 60 {
            return Err(SettingError {
                key: "oidc.code_ttl",
                reason: "must be between 1s and 60s".into(),
            });
        }
        if self.key_rotation.is_some_and(|d| d.as_secs() < 60) {
            return Err(SettingError {
                key: "oidc.key_rotation",
                reason: "must be at least 60s".into(),
            });
        }
        Ok(())
    }
}
