//! The OpenID Connect provider's operations: authorization codes, the token grants, ID
//! tokens, UserInfo claims, introspection, revocation, consents and browser sessions.

use aws_lc_rs::digest;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde_json::{Map, Value, json};

use super::{
    AccessClaims, Core, CoreError, RequestContext, Result, VerifiedToken, secrets,
    tokens::ACCESS_TYP,
};
use crate::{
    config::Algorithm,
    core::OAuthClient,
    domain::User,
    store::{BrowserSessionRow, CodeRow, ConsentRow, GrantRow, Redemption, Revoke},
};

/// A refusal at the token endpoint, as RFC 6749 section 5.2 names it.
#[derive(Debug)]
pub enum OAuthError {
    InvalidRequest(&'static str),
    InvalidGrant(&'static str),
    InvalidScope,
    UnauthorizedClient,
    Core(CoreError),
}

impl From<CoreError> for OAuthError {
    fn from(e: CoreError) -> Self {
        Self::Core(e)
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Core(e.into())
    }
}

/// A successful token response.
pub struct OAuthTokens {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub scope: String,
}

/// What an approved authorization request turns into a code.
pub struct CodeRequest<'a> {
    pub client_id: &'a str,
    pub user_id: i64,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub nonce: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
    pub auth_time: i64,
}

/// Prefix of the `sid` of client-credentials tokens, which have no session row.
const CLIENT_SID: &str = "cc-";

pub fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split(' ').any(|s| s == wanted)
}

/// RFC 7636 S256: BASE64URL(SHA256(ASCII(code_verifier))).
pub fn pkce_s256(verifier: &str) -> String {
    B64.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// `at_hash`: the left half of the hash of the access token, with the ID token's hash.
fn at_hash(alg: Algorithm, token: &str) -> String {
    let d = match alg {
        Algorithm::EdDSA => digest::digest(&digest::SHA512, token.as_bytes()),
        _ => digest::digest(&digest::SHA256, token.as_bytes()),
    };
    let bytes = d.as_ref();
    B64.encode(&bytes[..bytes.len() / 2])
}

impl Core {
    pub async fn issue_code(&self, r: &CodeRequest<'_>) -> Result<String> {
        let code = secrets::random_token(32);
        let now = self.clock.now();
        self.store
            .insert_code(&CodeRow {
                code_hash: secrets::digest(&code),
                client_id: r.client_id.into(),
                user_id: r.user_id,
                redirect_uri: r.redirect_uri.into(),
                scope: r.scope.into(),
                nonce: r.nonce.map(String::from),
                code_challenge: r.code_challenge.map(String::from),
                auth_time: r.auth_time,
                expires_at: now + self.settings.oidc.code_ttl.as_secs(),
            })
            .await?;
        Ok(code)
    }

    /// The `authorization_code` grant. A code works once; presenting it again revokes the
    /// tokens issued from it.
    pub async fn exchange_code(
        &self,
        client: &OAuthClient,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        ctx: &RequestContext,
    ) -> std::result::Result<OAuthTokens, OAuthError> {
        let hash = secrets::digest(code);
        let now = self.clock.now();
        let row = match self.store.redeem_code(&hash, now).await? {
            Redemption::Fresh(row) => row,
            Redemption::Reused(session) => {
                if let Some(sid) = session {
                    self.revoke_sessions(Revoke::One(&sid), "code_reuse")
                        .await?;
                }
                self.audit(
                    "oauth.code_reuse",
                    None,
                    ctx,
                    json!({"client_id": client.client_id}),
                )
                .await;
                return Err(OAuthError::InvalidGrant(
                    "The authorization code was already used",
                ));
            }
            Redemption::Unknown => {
                return Err(OAuthError::InvalidGrant("Unknown authorization code"));
            }
        };
        if row.client_id != client.client_id {
            return Err(OAuthError::InvalidGrant(
                "The code was issued to another client",
            ));
        }
        if row.expires_at <= now {
            return Err(OAuthError::InvalidGrant("The authorization code expired"));
        }
        if redirect_uri != Some(row.redirect_uri.as_str()) {
            return Err(OAuthError::InvalidGrant(
                "redirect_uri does not match the authorization request",
            ));
        }
        if let Some(challenge) = &row.code_challenge {
            let ok = verifier.is_some_and(|v| {
                valid_verifier(v) && secrets::same(pkce_s256(v).as_bytes(), challenge.as_bytes())
            });
            if !ok {
                return Err(OAuthError::InvalidGrant("PKCE verification failed"));
            }
        }
        let user = self.user(row.user_id).await?;
        if !user.is_active {
            return Err(OAuthError::InvalidGrant("The user is disabled"));
        }
        let issued = self.start_session(user, ctx).await?;
        self.store
            .insert_grant(&GrantRow {
                session_id: issued.session_id.clone(),
                client_id: client.client_id.clone(),
                scope: row.scope.clone(),
                auth_time: row.auth_time,
            })
            .await?;
        self.store
            .set_code_session(&hash, &issued.session_id)
            .await?;
        self.audit(
            "oauth.token",
            Some(issued.user.id),
            ctx,
            json!({"client_id": client.client_id, "grant": "authorization_code"}),
        )
        .await;
        let refresh = client
            .allows_grant("refresh_token")
            .then_some(issued.refresh_token);
        self.oauth_tokens(
            client,
            &issued.user,
            &issued.session_id,
            &row.scope,
            row.auth_time,
            row.nonce.as_deref(),
            refresh,
        )
        .await
    }

    /// The `refresh_token` grant: the core's rotation and reuse detection, then tokens
    /// with the scope of the original grant (or less, when `scope` narrows it).
    pub async fn refresh_grant(
        &self,
        client: &OAuthClient,
        refresh_token: &str,
        scope: Option<&str>,
        ctx: &RequestContext,
    ) -> std::result::Result<OAuthTokens, OAuthError> {
        let invalid = || OAuthError::InvalidGrant("The refresh token is invalid or expired");
        let sid = self
            .session_of_refresh(refresh_token)
            .await
            .map_err(|_| invalid())?;
        let grant = self.store.find_grant(&sid).await?.ok_or_else(invalid)?;
        if grant.client_id != client.client_id {
            return Err(invalid());
        }
        let scope = match scope {
            Some(s) if s.split(' ').all(|x| has_scope(&grant.scope, x)) => s.to_owned(),
            Some(_) => return Err(OAuthError::InvalidScope),
            None => grant.scope.clone(),
        };
        let issued = self
            .refresh(refresh_token, ctx)
            .await
            .map_err(|e| match e {
                CoreError::TokenInvalid | CoreError::TokenExpired => invalid(),
                other => other.into(),
            })?;
        self.oauth_tokens(
            client,
            &issued.user,
            &issued.session_id,
            &scope,
            grant.auth_time,
            None,
            Some(issued.refresh_token),
        )
        .await
    }

    /// The `client_credentials` grant: a token for the client itself, no user, no refresh.
    pub async fn client_credentials_grant(
        &self,
        client: &OAuthClient,
        scope: Option<&str>,
    ) -> std::result::Result<OAuthTokens, OAuthError> {
        let scope = match scope {
            Some(s) if client.allows_scopes(s) && !has_scope(s, "openid") => s.to_owned(),
            Some(_) => return Err(OAuthError::InvalidScope),
            None => client
                .scopes
                .iter()
                .filter(|s| !["openid", "offline_access"].contains(&s.as_str()))
                .cloned()
                .collect::<Vec<_>>()
                .join(" "),
        };
        let sid = format!("{CLIENT_SID}{}", secrets::random_token(16));
        let (access_token, expires_in) =
            self.oauth_access_token(&client.client_id, None, &sid, &scope)?;
        Ok(OAuthTokens {
            access_token,
            expires_in,
            refresh_token: None,
            id_token: None,
            scope,
        })
    }

    /// An RFC 9068 access token for `client`, acting for `user` (or for itself).
    fn oauth_access_token(
        &self,
        client_id: &str,
        user: Option<&User>,
        sid: &str,
        scope: &str,
    ) -> Result<(String, i64)> {
        let now = self.clock.now();
        let ttl = self.settings.tokens.access_ttl.as_secs();
        let claims = AccessClaims {
            iss: self.settings.issuer().to_owned(),
            sub: user.map_or_else(|| client_id.to_owned(), |u| u.id.to_string()),
            aud: self.settings.audience().to_owned(),
            exp: now + ttl,
            iat: now,
            nbf: now,
            jti: secrets::random_token(16),
            sid: sid.to_owned(),
            client_id: client_id.to_owned(),
            username: user.map_or_else(|| client_id.to_owned(), |u| u.username.clone()),
            roles: user.map(|u| u.roles.clone()).unwrap_or_default(),
            user_id: user.map_or(0, |u| u.id),
            token_type: "access".into(),
            scope: Some(scope.to_owned()),
        };
        Ok((self.keys.signer().sign_jwt(ACCESS_TYP, &claims)?, ttl))
    }

    #[allow(clippy::too_many_arguments)]
    async fn oauth_tokens(
        &self,
        client: &OAuthClient,
        user: &User,
        sid: &str,
        scope: &str,
        auth_time: i64,
        nonce: Option<&str>,
        refresh_token: Option<String>,
    ) -> std::result::Result<OAuthTokens, OAuthError> {
        let (access_token, expires_in) =
            self.oauth_access_token(&client.client_id, Some(user), sid, scope)?;
        let id_token = if has_scope(scope, "openid") {
            Some(
                self.id_token(client, user, sid, scope, auth_time, nonce, &access_token)
                    .await?,
            )
        } else {
            None
        };
        Ok(OAuthTokens {
            access_token,
            expires_in,
            refresh_token,
            id_token,
            scope: scope.to_owned(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn id_token(
        &self,
        client: &OAuthClient,
        user: &User,
        sid: &str,
        scope: &str,
        auth_time: i64,
        nonce: Option<&str>,
        access_token: &str,
    ) -> Result<String> {
        let alg = client.id_token_alg();
        let key = self.keys.ensure(&self.store, alg, self.clock.now()).await?;
        let now = self.clock.now();
        let mut claims = identity_claims(user, scope);
        let extra = json!({
            "iss": self.settings.issuer(),
            "aud": client.client_id,
            "azp": client.client_id,
            "exp": now + self.settings.oidc.id_token_ttl.as_secs(),
            "iat": now,
            "auth_time": auth_time,
            "sid": sid,
            "at_hash": at_hash(alg, access_token),
        });
        if let Value::Object(extra) = extra {
            claims.extend(extra);
        }
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), nonce.into());
        }
        Ok(key.sign_jwt("JWT", &claims)?)
    }

    /// UserInfo: the claims the access token's scopes grant.
    pub async fn userinfo(&self, claims: &AccessClaims) -> Result<Map<String, Value>> {
        let scope = claims.scope.as_deref().unwrap_or_default();
        if !has_scope(scope, "openid") || claims.user_id <= 0 {
            return Err(CoreError::Forbidden(
                "The access token does not grant the openid scope",
            ));
        }
        let user = self.user(claims.user_id).await?;
        Ok(identity_claims(&user, scope))
    }

    /// RFC 7662: what a token is, for a resource server; anything not live is `active: false`.
    pub async fn introspect(&self, token: &str) -> Result<Value> {
        let inactive = json!({"active": false});
        match self.verify_token(token).await {
            Ok(VerifiedToken::Access(c)) => Ok(json!({
                "active": true,
                "token_type": "access_token",
                "scope": c.scope,
                "client_id": c.client_id,
                "username": c.username,
                "sub": c.sub,
                "aud": c.aud,
                "iss": c.iss,
                "exp": c.exp,
                "iat": c.iat,
                "nbf": c.nbf,
                "jti": c.jti,
            })),
            Ok(VerifiedToken::Refresh(info)) => {
                let Some(grant) = self.store.find_grant(&info.session_id).await? else {
                    return Ok(inactive);
                };
                let user = self.user(info.user_id).await?;
                Ok(json!({
                    "active": true,
                    "token_type": "refresh_token",
                    "scope": grant.scope,
                    "client_id": grant.client_id,
                    "username": user.username,
                    "sub": user.id.to_string(),
                    "iss": self.settings.issuer(),
                    "exp": info.expires_at,
                }))
            }
            Err(CoreError::TokenInvalid | CoreError::TokenExpired) => Ok(inactive),
            Err(e) => Err(e),
        }
    }

    /// RFC 7009: ends what the token belongs to, if it is `client`'s; unknown or foreign
    /// tokens are ignored (the answer is the same).
    pub async fn revoke_token(
        &self,
        client: &OAuthClient,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let (sid, claims) = match self.verify_token(token).await {
            Ok(VerifiedToken::Access(c)) if c.client_id == client.client_id => {
                (c.sid.clone(), Some(c))
            }
            Ok(VerifiedToken::Refresh(info)) => (info.session_id, None),
            Ok(_) | Err(CoreError::TokenInvalid | CoreError::TokenExpired) => {
                match self.session_of_refresh(token).await {
                    Ok(sid) => (sid, None),
                    Err(_) => return Ok(()),
                }
            }
            Err(e) => return Err(e),
        };
        match claims {
            Some(c) if c.sid.starts_with(CLIENT_SID) => self.revoke_token_sid(&c).await?,
            _ => {
                let owned = self
                    .store
                    .find_grant(&sid)
                    .await?
                    .is_some_and(|g| g.client_id == client.client_id);
                if !owned {
                    return Ok(());
                }
                self.revoke_sessions(Revoke::One(&sid), "oauth_revoke")
                    .await?;
            }
        }
        self.audit(
            "oauth.revoke",
            None,
            ctx,
            json!({"client_id": client.client_id}),
        )
        .await;
        Ok(())
    }

    /// Whether the user already consented to `scope` for the client.
    pub async fn has_consent(&self, user_id: i64, client_id: &str, scope: &str) -> Result<bool> {
        let stored = self.store.consents(user_id).await?;
        Ok(stored.iter().any(|c| {
            c.client_id == client_id
                && scope
                    .split(' ')
                    .all(|s| s.is_empty() || has_scope(&c.scope, s))
        }))
    }

    pub async fn grant_consent(
        &self,
        user_id: i64,
        client_id: &str,
        scope: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.store
            .save_consent(user_id, client_id, scope, self.clock.now())
            .await?;
        self.audit(
            "oauth.consent",
            Some(user_id),
            ctx,
            json!({"client_id": client_id, "scope": scope}),
        )
        .await;
        Ok(())
    }

    pub async fn consents(&self, user_id: i64) -> Result<Vec<ConsentRow>> {
        Ok(self.store.consents(user_id).await?)
    }

    pub async fn revoke_consent(
        &self,
        user_id: i64,
        client_id: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        if !self.store.delete_consent(user_id, client_id).await? {
            return Err(CoreError::NotFound);
        }
        self.audit(
            "oauth.consent_revoked",
            Some(user_id),
            ctx,
            json!({"client_id": client_id}),
        )
        .await;
        Ok(())
    }

    /// Signs a browser in on the hosted pages; the answer is the cookie value.
    pub async fn start_browser_session(&self, user_id: i64) -> Result<String> {
        let token = secrets::random_token(32);
        let now = self.clock.now();
        let until = now + self.settings.oidc.sso_ttl.as_secs();
        self.store
            .insert_browser_session(&secrets::digest(&token), user_id, now, until)
            .await?;
        Ok(token)
    }

    pub async fn browser_session(&self, token: &str) -> Result<Option<BrowserSessionRow>> {
        Ok(self
            .store
            .find_browser_session(&secrets::digest(token), self.clock.now())
            .await?)
    }

    pub async fn end_browser_session(&self, token: &str) -> Result<()> {
        Ok(self
            .store
            .delete_browser_session(&secrets::digest(token))
            .await?)
    }

    /// Rotates the signing keys when `oidc.key_rotation` is set and the newest key is that
    /// old. Instances agree through the key table, so a late one finds a fresh key and waits.
    pub async fn rotate_keys_if_due(&self) {
        let Some(every) = self.settings.oidc.key_rotation else {
            return;
        };
        let now = self.clock.now();
        let Ok(rows) = self.store.signing_keys(now).await else {
            return;
        };
        let newest = rows
            .iter()
            .filter(|r| r.retired_at.is_none())
            .map(|r| r.created_at)
            .max();
        if newest.is_some_and(|t| now - t >= every.as_secs())
            && let Err(e) = self.keys.rotate(&self.store, now).await
        {
            tracing::warn!(error = %e, "scheduled key rotation failed");
        }
    }

    /// Forgets spent authorization codes (a day after they expired) and ended browser sessions.
    pub async fn prune_oauth(&self) {
        let now = self.clock.now();
        if let Err(e) = self.store.prune_oauth(now - 86400, now).await {
            tracing::warn!(error = %e, "pruning OAuth codes and browser sessions failed");
        }
    }

    /// A CSRF token for a hosted form, bound to a browser cookie value and a purpose.
    pub fn form_token(&self, cookie: &str, purpose: &str) -> String {
        self.csrf_token(&format!("oidc-{purpose}:{cookie}"))
    }
}

/// The standard claims `scope` releases about `user`.
pub fn identity_claims(user: &User, scope: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("sub".into(), user.id.to_string().into());
    if has_scope(scope, "profile") {
        let name = format!("{} {}", user.first_name, user.last_name)
            .trim()
            .to_owned();
        m.insert("preferred_username".into(), user.username.clone().into());
        m.insert(
            "name".into(),
            (if name.is_empty() {
                user.username.clone()
            } else {
                name
            })
            .into(),
        );
        m.insert("given_name".into(), user.first_name.clone().into());
        m.insert("family_name".into(), user.last_name.clone().into());
    }
    if has_scope(scope, "email") && !user.email.is_empty() {
        m.insert("email".into(), user.email.clone().into());
        m.insert("email_verified".into(), user.email_verified.into());
    }
    m
}
