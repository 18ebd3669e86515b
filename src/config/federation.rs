//! Upstream identity providers users may sign in with (`[[federation.providers]]`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{SettingError, list_or_csv};

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Federation {
    pub providers: Vec<Provider>,
    /// Where a federated login may send the browser back to: exact URLs, or prefixes
    /// ending in `/` (e.g. `https://app.example.com/`).
    #[serde(deserialize_with = "list_or_csv")]
    pub redirect_allow_list: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Provider {
    /// Appears in URLs: `/auth/federation/{id}/start`.
    pub id: String,
    pub display_name: String,
    /// OpenID Connect issuer; its discovery document supplies the endpoints and keys.
    pub issuer: Option<String>,
    /// Explicit endpoints, for plain OAuth 2.0 providers (or to override discovery).
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
    pub claims: ClaimMapping,
    /// Upstream group or role name → Castellan role, granted when a user is created.
    pub roles: BTreeMap<String, String>,
    /// Create a local user on first sign-in.
    pub create_users: bool,
    /// Link to an existing account with the same email when the upstream says it is verified.
    pub link_verified_email: bool,
    /// Let the upstream's authentication stand in for Castellan's MFA step.
    pub trust_upstream_mfa: bool,
}

impl Default for Provider {
    fn default() -> Self {
        Self {
            id: String::new(),
            display_name: String::new(),
            issuer: None,
            authorization_url: None,
            token_url: None,
            userinfo_url: None,
            client_id: String::new(),
            client_secret: String::new(),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            claims: ClaimMapping::default(),
            roles: BTreeMap::new(),
            create_users: true,
            link_verified_email: false,
            trust_upstream_mfa: false,
        }
    }
}

/// Which upstream claim (ID token or UserInfo) fills which local field.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimMapping {
    pub subject: String,
    pub email: String,
    pub email_verified: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub groups: String,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            subject: "sub".into(),
            email: "email".into(),
            email_verified: "email_verified".into(),
            username: "preferred_username".into(),
            first_name: "given_name".into(),
            last_name: "family_name".into(),
            groups: "groups".into(),
        }
    }
}

impl Provider {
    /// Whether the provider speaks OpenID Connect (ID tokens) rather than plain OAuth 2.0.
    pub fn is_oidc(&self) -> bool {
        self.issuer.is_some()
    }
}

impl Federation {
    pub fn validate(&self) -> Result<(), SettingError> {
        let bad = |reason: String| {
            Err(SettingError {
                key: "federation.providers",
                reason,
            })
        };
        let mut seen = std::collections::HashSet::new();
        for p in &self.providers {
            let id_ok = !p.id.is_empty()
                && p.id.len() <= 64
                && p.id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !id_ok {
                return bad(format!(
                    "provider id `{}` must be 1-64 letters, digits, `-` or `_`",
                    p.id
                ));
            }
            if !seen.insert(p.id.as_str()) {
                return bad(format!("provider id `{}` appears twice", p.id));
            }
            if p.client_id.is_empty() {
                return bad(format!("provider `{}` needs a client_id", p.id));
            }
            let explicit = p.authorization_url.is_some() && p.token_url.is_some();
            if p.issuer.is_none() && !(explicit && p.userinfo_url.is_some()) {
                return bad(format!(
                    "provider `{}` needs an issuer, or authorization_url, token_url and userinfo_url",
                    p.id
                ));
            }
            let urls = [
                &p.issuer,
                &p.authorization_url,
                &p.token_url,
                &p.userinfo_url,
            ];
            if urls
                .into_iter()
                .flatten()
                .any(|u| !(u.starts_with("https://") || u.starts_with("http://")))
            {
                return bad(format!("provider `{}` has a URL that is not http(s)", p.id));
            }
        }
        for target in &self.redirect_allow_list {
            if !(target.starts_with("https://") || target.starts_with("http://")) {
                return Err(SettingError {
                    key: "federation.redirect_allow_list",
                    reason: format!("`{target}` is not an http(s) URL"),
                });
            }
        }
        Ok(())
    }

    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// Whether the browser may be sent to `target` after a federated login.
    pub fn allows_redirect(&self, target: &str) -> bool {
        self.redirect_allow_list.iter().any(|allowed| {
            target == allowed || (allowed.ends_with('/') && target.starts_with(allowed.as_str()))
        })
    }
}
