//! API keys: `ck_<id>_<secret>`, the secret shown once and stored as a digest. A key acts
//! for its owner limited to its scopes. Every use reads the key's row, so a revoked key
//! stops at once on every instance; the last use is recorded at most once a minute.

use serde::Serialize;
use serde_json::json;

use super::{Core, CoreError, RequestContext, Result, rfc3339, secrets};
use crate::{domain::FieldErrors, store::ApiKeyRow};

const PREFIX: &str = "ck_";
const TOUCH_EVERY_SECS: i64 = 60;
const MAX_LIFETIME_SECS: i64 = 10 * 365 * 86400;

pub struct NewApiKey {
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_in: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// A verified key: whose it is and what it may do.
#[derive(Debug, Clone)]
pub struct ApiKeyGrant {
    pub key_id: String,
    pub user_id: i64,
    pub scopes: Vec<String>,
}

impl From<ApiKeyRow> for ApiKeyView {
    fn from(k: ApiKeyRow) -> Self {
        Self {
            prefix: format!("{PREFIX}{}", k.id),
            scopes: split_scopes(&k.scopes),
            created_at: rfc3339(k.created_at),
            expires_at: k.expires_at.map(rfc3339),
            last_used_at: k.last_used_at.map(rfc3339),
            id: k.id,
            name: k.name,
        }
    }
}

impl Core {
    /// Creates a key; the returned string is the only copy of the secret.
    pub async fn create_api_key(
        &self,
        user_id: i64,
        new: NewApiKey,
        ctx: &RequestContext,
    ) -> Result<(ApiKeyView, String)> {
        let mut errors = FieldErrors::default();
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            errors.add("name", "Give the key a name of 1 to 100 characters.");
        }
        if new
            .expires_in
            .is_some_and(|s| !(1..=MAX_LIFETIME_SECS).contains(&s))
        {
            errors.add(
                "expires_in",
                "Give a lifetime in seconds, at most ten years.",
            );
        }
        let actor = self.actor(user_id, None).await?;
        let mut scopes = new.scopes.clone();
        scopes.sort();
        scopes.dedup();
        for s in &scopes {
            if !actor.can(s) {
                errors.add("scopes", format!("You do not hold `{s}`."));
            }
        }
        if !errors.is_empty() {
            return Err(CoreError::Validation(errors));
        }
        let id = hex(&secrets::random_bytes(8));
        let key = format!("{PREFIX}{id}_{}", secrets::random_token(32));
        let now = self.clock.now();
        let row = ApiKeyRow {
            id,
            user_id,
            name: name.to_owned(),
            secret_hash: secrets::digest(&key),
            scopes: scopes.join(" "),
            created_at: now,
            expires_at: new.expires_in.map(|s| now + s),
            last_used_at: None,
        };
        self.store.insert_api_key(&row).await?;
        self.audit(
            "api_key.created",
            Some(user_id),
            ctx,
            json!({"key_id": row.id, "scopes": scopes}),
        )
        .await;
        Ok((ApiKeyView::from(row), key))
    }

    pub async fn api_keys(&self, user_id: i64) -> Result<Vec<ApiKeyView>> {
        let rows = self.store.list_api_keys(user_id).await?;
        Ok(rows.into_iter().map(ApiKeyView::from).collect())
    }

    pub async fn revoke_api_key(&self, user_id: i64, id: &str, ctx: &RequestContext) -> Result<()> {
        if !self
            .store
            .revoke_api_key(user_id, id, self.clock.now())
            .await?
        {
            return Err(CoreError::NotFound);
        }
        self.audit("api_key.revoked", Some(user_id), ctx, json!({"key_id": id}))
            .await;
        Ok(())
    }

    /// Checks a presented key; any failure is `TokenInvalid`.
    pub async fn authenticate_api_key(&self, presented: &str) -> Result<ApiKeyGrant> {
        let id = presented
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .map(|(id, _)| id)
            .filter(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or(CoreError::TokenInvalid)?;
        let found = self
            .store
            .find_api_key(id)
            .await?
            .ok_or(CoreError::TokenInvalid)?;
        let now = self.clock.now();
        let key = found.key;
        let matches = secrets::same(
            secrets::digest(presented).as_bytes(),
            key.secret_hash.as_bytes(),
        );
        if !matches || !found.user_active || key.expires_at.is_some_and(|e| e <= now) {
            return Err(CoreError::TokenInvalid);
        }
        if key.last_used_at.is_none_or(|t| now - t >= TOUCH_EVERY_SECS)
            && let Err(e) = self.store.touch_api_key(&key.id, now).await
        {
            tracing::warn!(error = %e, "API key use not recorded");
        }
        Ok(ApiKeyGrant {
            scopes: split_scopes(&key.scopes),
            key_id: key.id,
            user_id: key.user_id,
        })
    }
}

fn split_scopes(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
