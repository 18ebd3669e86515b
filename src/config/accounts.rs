//! Settings of the account features: mail links and templates, verification and reset,
//! MFA, and the audit trail's retention.

use std::path::PathBuf;

use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};

use super::{Duration, SettingError};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Accounts {
    /// Login refuses users whose email address is not verified.
    pub require_verified_email: bool,
    /// Where links in mails point (the page that reads `?token=`); `server.public_url` when unset.
    pub link_base: Option<String>,
    pub verification_ttl: Duration,
    pub reset_ttl: Duration,
    /// The shortest time between two verification mails to one user.
    pub resend_interval: Duration,
}

impl Default for Accounts {
    fn default() -> Self {
        Self {
            require_verified_email: false,
            link_base: None,
            verification_ttl: Duration::secs(2 * 86400),
            reset_ttl: Duration::secs(3600),
            resend_interval: Duration::secs(60),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Mail {
    /// A directory whose `verify_email.{subject,txt,html}` / `reset_password.{…}` files
    /// replace the built-in templates (each file separately).
    pub templates_dir: Option<PathBuf>,
    /// Without `smtp.url`: whether the logged mail keeps its link tokens. Off, the tokens are
    /// masked, so that logs never carry a usable credential; a developer without a mail server
    /// turns it on to follow the links.
    pub log_links: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mfa {
    /// The issuer an authenticator app shows next to the account.
    pub issuer: String,
    /// Lifetime of the `mfa_token` between the password step and the code step.
    pub token_ttl: Duration,
    /// Base64 of 32 random bytes; when set, TOTP secrets are encrypted at rest (AES-256-GCM).
    pub encryption_key: Option<String>,
    /// The web origin passkeys are bound to (its host is the relying-party id);
    /// `server.public_url` when unset.
    pub webauthn_origin: Option<String>,
}

impl Default for Mfa {
    fn default() -> Self {
        Self {
            issuer: "Castellan".into(),
            token_ttl: Duration::secs(300),
            encryption_key: None,
            webauthn_origin: None,
        }
    }
}

impl Mfa {
    /// The decoded encryption key, if one is configured.
    pub fn key_bytes(&self) -> Option<Vec<u8>> {
        self.encryption_key
            .as_deref()
            .and_then(|k| STANDARD.decode(k.trim()).ok())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Audit {
    /// Events older than this are deleted; `0s` keeps them forever.
    pub retention: Duration,
}

impl Default for Audit {
    fn default() -> Self {
        Self {
            retention: Duration::secs(90 * 86400),
        }
    }
}

pub(super) fn validate(
    accounts: &Accounts,
    mail: &Mail,
    mfa: &Mfa,
) -> std::result::Result<(), SettingError> {
    let bad = |key, reason: &str| {
        Err(SettingError {
            key,
            reason: reason.into(),
        })
    };
    if let Some(url) = &accounts.link_base
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return bad("accounts.link_base", "expected an http(s) URL");
    }
    for (key, d) in [
        ("accounts.verification_ttl", accounts.verification_ttl),
        ("accounts.reset_ttl", accounts.reset_ttl),
        ("mfa.token_ttl", mfa.token_ttl),
    ] {
        if d.0.is_zero() {
            return bad(key, "must be longer than zero");
        }
    }
    if let Some(dir) = &mail.templates_dir
        && !dir.is_dir()
    {
        return bad("mail.templates_dir", "not a directory");
    }
    if let Some(origin) = &mfa.webauthn_origin
        && !(origin.starts_with("http://") || origin.starts_with("https://"))
    {
        return bad(
            "mfa.webauthn_origin",
            "expected an origin like https://app.example.com",
        );
    }
    if mfa.issuer.is_empty() || mfa.issuer.contains(':') {
        return bad("mfa.issuer", "must be non-empty and contain no colon");
    }
    if mfa.encryption_key.is_some() && mfa.key_bytes().is_none_or(|k| k.len() != 32) {
        return bad(
            "mfa.encryption_key",
            "expected base64 of exactly 32 bytes (openssl rand -base64 32)",
        );
    }
    Ok(())
}
