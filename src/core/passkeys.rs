//! Passkeys (WebAuthn, through webauthn-rs): registered by a logged-in user, then used as a
//! passwordless login or as the second step of a password login. A ceremony's state lives in
//! the database between its two requests (so any instance can finish it) and is taken out
//! once; credential counters are updated on every use.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Serialize;
use serde_json::{Value, json};
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Url, Uuid,
    Webauthn, WebauthnBuilder,
};

use super::{Core, CoreError, IssuedTokens, RequestContext, Result, rfc3339, secrets};
use crate::{
    domain::FieldErrors,
    store::{Factor, PasskeyRow},
};

/// How long a ceremony may take between its two requests.
const CEREMONY_SECS: i64 = 300;
const REGISTER: &str = "register";
const LOGIN: &str = "login";
const MFA: &str = "mfa";

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl From<PasskeyRow> for PasskeyView {
    fn from(p: PasskeyRow) -> Self {
        Self {
            id: p.id,
            name: p.name,
            created_at: rfc3339(p.created_at),
            last_used_at: p.last_used_at.map(rfc3339),
        }
    }
}

/// A started ceremony: its id (to send back with the response) and the browser's options.
pub struct Ceremony<T> {
    pub id: String,
    pub options: T,
}

fn internal(what: &str, e: impl std::fmt::Display) -> CoreError {
    CoreError::Internal(anyhow::anyhow!("{what}: {e}"))
}

fn bad_credential() -> CoreError {
    CoreError::Validation(FieldErrors::single(
        "credential",
        "The authenticator's response is malformed.",
    ))
}

impl Core {
    fn webauthn(&self) -> Result<Webauthn> {
        let origin = self
            .settings
            .mfa
            .webauthn_origin
            .as_deref()
            .unwrap_or(&self.settings.server.public_url);
        let origin = Url::parse(origin).map_err(|e| internal("WebAuthn origin", e))?;
        let rp_id = origin.host_str().unwrap_or("localhost").to_owned();
        WebauthnBuilder::new(&rp_id, &origin)
            .and_then(|b| b.rp_name(&self.settings.mfa.issuer).build())
            .map_err(|e| internal("WebAuthn setup", e))
    }

    async fn begin_ceremony<S: Serialize>(
        &self,
        user_id: i64,
        kind: &str,
        state: &S,
    ) -> Result<String> {
        let id = secrets::random_token(16);
        let state = serde_json::to_string(state).map_err(|e| internal("ceremony state", e))?;
        let expires = self.clock.now() + CEREMONY_SECS;
        self.store
            .insert_ceremony(&id, user_id, kind, &state, expires)
            .await?;
        Ok(id)
    }

    async fn end_ceremony<S: serde::de::DeserializeOwned>(
        &self,
        id: &str,
        kind: &str,
    ) -> Result<(i64, S)> {
        let (user_id, state) = self
            .store
            .take_ceremony(id, kind, self.clock.now())
            .await?
            .ok_or(CoreError::TokenInvalid)?;
        let state = serde_json::from_str(&state).map_err(|e| internal("ceremony state", e))?;
        Ok((user_id, state))
    }

    /// Step one of adding a passkey to the caller's account.
    pub async fn passkey_register_start(
        &self,
        user_id: i64,
    ) -> Result<Ceremony<CreationChallengeResponse>> {
        let user = self.user(user_id).await?;
        let existing = self.stored_passkeys(user_id).await?;
        let exclude = existing.iter().map(|(_, p)| p.cred_id().clone()).collect();
        let handle = Uuid::from_u64_pair(0, u64::try_from(user.id).unwrap_or_default());
        let (options, state) = self
            .webauthn()?
            .start_passkey_registration(handle, &user.username, &user.username, Some(exclude))
            .map_err(|e| internal("passkey registration", e))?;
        let id = self.begin_ceremony(user_id, REGISTER, &state).await?;
        Ok(Ceremony { id, options })
    }

    pub async fn passkey_register_finish(
        &self,
        user_id: i64,
        ceremony: &str,
        credential: Value,
        name: &str,
        ctx: &RequestContext,
    ) -> Result<PasskeyView> {
        let credential: RegisterPublicKeyCredential =
            serde_json::from_value(credential).map_err(|_| bad_credential())?;
        let (owner, state): (i64, PasskeyRegistration) =
            self.end_ceremony(ceremony, REGISTER).await?;
        if owner != user_id {
            return Err(CoreError::TokenInvalid);
        }
        let passkey = self
            .webauthn()?
            .finish_passkey_registration(&credential, &state)
            .map_err(|e| {
                tracing::debug!(error = %e, "passkey registration refused");
                CoreError::Validation(FieldErrors::single(
                    "credential",
                    "The authenticator's response was not accepted.",
                ))
            })?;
        let row = PasskeyRow {
            id: URL_SAFE_NO_PAD.encode(passkey.cred_id().as_slice()),
            user_id,
            name: name.to_owned(),
            passkey: serde_json::to_string(&passkey).map_err(|e| internal("passkey", e))?,
            created_at: self.clock.now(),
            last_used_at: None,
        };
        self.store.insert_passkey(&row).await.map_err(|e| match e {
            crate::store::StoreError::Conflict(_) => CoreError::Conflict {
                code: "PASSKEY_EXISTS",
                message: "This passkey is registered already",
            },
            other => other.into(),
        })?;
        self.audit(
            "mfa.passkey_added",
            Some(user_id),
            ctx,
            json!({"passkey_id": row.id}),
        )
        .await;
        Ok(PasskeyView::from(row))
    }

    pub async fn passkey_list(&self, user_id: i64) -> Result<Vec<PasskeyView>> {
        let rows = self.store.passkeys(user_id).await?;
        Ok(rows.into_iter().map(PasskeyView::from).collect())
    }

    pub async fn passkey_delete(&self, user_id: i64, id: &str, ctx: &RequestContext) -> Result<()> {
        if !self.store.delete_passkey(user_id, id).await? {
            return Err(CoreError::NotFound);
        }
        self.audit(
            "mfa.passkey_removed",
            Some(user_id),
            ctx,
            json!({"passkey_id": id}),
        )
        .await;
        Ok(())
    }

    async fn stored_passkeys(&self, user_id: i64) -> Result<Vec<(String, Passkey)>> {
        let rows = self.store.passkeys(user_id).await?;
        rows.into_iter()
            .map(|r| {
                let p =
                    serde_json::from_str(&r.passkey).map_err(|e| internal("stored passkey", e))?;
                Ok((r.id, p))
            })
            .collect()
    }

    async fn assertion_options(
        &self,
        user_id: i64,
        kind: &str,
    ) -> Result<Ceremony<RequestChallengeResponse>> {
        let passkeys: Vec<Passkey> = self
            .stored_passkeys(user_id)
            .await?
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        if passkeys.is_empty() {
            return Err(CoreError::InvalidCredentials);
        }
        let (options, state) = self
            .webauthn()?
            .start_passkey_authentication(&passkeys)
            .map_err(|e| internal("passkey authentication", e))?;
        let id = self.begin_ceremony(user_id, kind, &state).await?;
        Ok(Ceremony { id, options })
    }

    /// Checks an assertion against the ceremony and the user's passkeys; updates the counter.
    async fn check_assertion(&self, ceremony: &str, kind: &str, credential: Value) -> Result<i64> {
        let credential: PublicKeyCredential =
            serde_json::from_value(credential).map_err(|_| bad_credential())?;
        let (user_id, state): (i64, PasskeyAuthentication) =
            self.end_ceremony(ceremony, kind).await?;
        let result = self
            .webauthn()?
            .finish_passkey_authentication(&credential, &state)
            .map_err(|e| {
                tracing::debug!(error = %e, "passkey assertion refused");
                CoreError::InvalidCode
            })?;
        for (id, mut passkey) in self.stored_passkeys(user_id).await? {
            if passkey.cred_id() != result.cred_id() {
                continue;
            }
            let updated = match passkey.update_credential(&result) {
                Some(true) => {
                    Some(serde_json::to_string(&passkey).map_err(|e| internal("passkey", e))?)
                }
                _ => None,
            };
            self.store
                .touch_passkey(&id, updated.as_deref(), self.clock.now())
                .await?;
            return Ok(user_id);
        }
        Err(CoreError::InvalidCode)
    }

    /// Step one of a passwordless login; users without passkeys get the credential error.
    pub async fn passkey_login_start(
        &self,
        login: &str,
    ) -> Result<Ceremony<RequestChallengeResponse>> {
        let row = self
            .store
            .find_user_by_login(&login.trim().to_lowercase())
            .await?
            .filter(|u| u.is_active)
            .ok_or(CoreError::InvalidCredentials)?;
        self.assertion_options(row.id, LOGIN).await
    }

    /// A passkey with user verification is both factors: the login needs nothing else.
    pub async fn passkey_login_finish(
        &self,
        ceremony: &str,
        credential: Value,
        ctx: &RequestContext,
    ) -> Result<IssuedTokens> {
        let user_id = self
            .check_assertion(ceremony, LOGIN, credential)
            .await
            .map_err(|e| match e {
                CoreError::InvalidCode | CoreError::TokenInvalid => CoreError::InvalidCredentials,
                other => other,
            })?;
        let user = self.user(user_id).await?;
        if !user.is_active {
            return Err(CoreError::InvalidCredentials);
        }
        if self.settings.accounts.require_verified_email && !user.email_verified {
            return Err(CoreError::EmailNotVerified);
        }
        self.audit(
            "login.success",
            Some(user_id),
            ctx,
            json!({"method": "passkey"}),
        )
        .await;
        self.start_session(user, ctx).await
    }

    /// The options for finishing a password login with a passkey instead of a code.
    pub async fn passkey_mfa_start(
        &self,
        mfa_token: &str,
    ) -> Result<Ceremony<RequestChallengeResponse>> {
        let user_id = self
            .store
            .peek_one_time(
                &secrets::digest(mfa_token),
                crate::store::Purpose::Mfa,
                self.clock.now(),
            )
            .await?
            .ok_or(CoreError::TokenInvalid)?;
        self.assertion_options(user_id, MFA).await
    }

    pub async fn passkey_mfa_finish(
        &self,
        mfa_token: &str,
        ceremony: &str,
        credential: Value,
        ctx: &RequestContext,
    ) -> Result<IssuedTokens> {
        let hash = secrets::digest(mfa_token);
        let now = self.clock.now();
        let owner = self
            .store
            .attempt_mfa_token(&hash, now)
            .await?
            .ok_or(CoreError::TokenInvalid)?;
        let user_id = self.check_assertion(ceremony, MFA, credential).await?;
        let user = self.user(user_id).await?;
        if owner != user_id
            || !user.is_active
            || !self
                .store
                .complete_mfa(&hash, user_id, &Factor::Passkey, now)
                .await?
        {
            return Err(CoreError::InvalidCode);
        }
        self.audit(
            "login.success",
            Some(user_id),
            ctx,
            json!({"mfa": "passkey"}),
        )
        .await;
        self.start_session(user, ctx).await
    }
}
