//! "Sign in with …": a login at an upstream provider becomes an ordinary Castellan session.
//! The browser leaves with `state`, PKCE and `nonce`; it comes back to the callback, which
//! validates everything, finds or creates the local user, and hands the app a one-time code
//! that `exchange` turns into tokens (tokens never travel in a URL).

use serde_json::{Map, Value, json};

use super::{
    Core, CoreError, IssuedTokens, RequestContext, Result, secrets,
    upstream::{Endpoints, UpstreamFailure},
};
use crate::{
    config::FederationProvider,
    domain::{Email, FieldErrors, Username},
    store::{FederationLogin, IdentityRow, NewIdentity, NewUserRow, Purpose, StoreError},
};

/// How long a started upstream login may take.
const LOGIN_TTL: i64 = 600;
/// How long the app has to redeem the one-time code.
const EXCHANGE_TTL: i64 = 60;
/// Stands in for a password hash: no password ever matches it.
const NO_PASSWORD: &str = "!federated";

/// Where the browser goes after the callback.
pub enum CallbackOutcome {
    /// Back to the app: `code=…` on success, `error=…` on failure.
    Redirect(String),
    /// Started from the hosted login page: sign the browser in and resume the
    /// authorization request at `resume`.
    Hosted {
        user_id: i64,
        trusted_mfa: bool,
        resume: String,
    },
    /// Started from the hosted login page and failed: show the failure there.
    HostedFailed(UpstreamFailure),
    /// The callback cannot be tied to a started login: nowhere safe to redirect to.
    Failed(UpstreamFailure),
}

/// The upstream account as the claim mapping reads it.
struct UpstreamAccount {
    subject: String,
    email: Option<Email>,
    email_verified: bool,
    username: Option<String>,
    first_name: String,
    last_name: String,
    groups: Vec<String>,
}

impl Core {
    /// The configured providers, as (id, display name), for login pages and apps.
    pub fn federation_providers(&self) -> Vec<(String, String)> {
        self.settings
            .federation
            .providers
            .iter()
            .map(|p| (p.id.clone(), p.display_name.clone()))
            .collect()
    }

    fn federation_provider(&self, id: &str) -> Result<&FederationProvider> {
        self.settings
            .federation
            .provider(id)
            .ok_or(CoreError::NotFound)
    }

    /// The URL upstream sends the browser back to (identical at start and exchange).
    pub fn federation_callback_url(&self, provider: &str) -> String {
        let prefix = self
            .settings
            .api
            .native
            .prefixes
            .first()
            .map_or("/auth", String::as_str);
        format!(
            "{}{prefix}/federation/{provider}/callback",
            self.settings.server.public_url
        )
    }

    /// The authorization request of the hosted login page whose query is `query`.
    pub fn hosted_resume_url(&self, query: &str) -> String {
        format!(
            "{}{}/authorize?{query}",
            self.settings.server.public_url, self.settings.oidc.prefix
        )
    }

    fn is_hosted_resume(&self, url: &str) -> bool {
        !self.settings.oidc.prefix.is_empty() && url.starts_with(&self.hosted_resume_url(""))
    }

    /// Starts a login at `provider`; yields the upstream authorization URL. With `link_to`,
    /// the upstream account is linked to that (already signed-in) user instead.
    pub async fn federation_start(
        &self,
        provider: &str,
        redirect: &str,
        link_to: Option<i64>,
    ) -> Result<String> {
        let p = self.federation_provider(provider)?;
        if !(self.settings.federation.allows_redirect(redirect) || self.is_hosted_resume(redirect))
        {
            return Err(CoreError::Validation(FieldErrors::single(
                "redirect",
                "This redirect target is not allowed.",
            )));
        }
        let endpoints = self
            .upstreams
            .endpoints(p)
            .await
            .map_err(CoreError::Upstream)?;
        let state = secrets::random_token(32);
        let login = FederationLogin {
            provider: p.id.clone(),
            nonce: secrets::random_token(24),
            verifier: secrets::random_token(48),
            redirect: redirect.to_owned(),
            link_user_id: link_to,
        };
        let now = self.clock.now();
        self.store
            .insert_federation_login(&secrets::digest(&state), &login, now + LOGIN_TTL)
            .await?;
        if let Err(e) = self.store.prune_federation_logins(now).await {
            tracing::warn!(error = %e, "pruning federation logins failed");
        }
        let mut query = vec![
            ("response_type", "code".to_owned()),
            ("client_id", p.client_id.clone()),
            ("redirect_uri", self.federation_callback_url(&p.id)),
            ("scope", p.scopes.join(" ")),
            ("state", state),
            ("code_challenge", secrets::digest(&login.verifier)),
            ("code_challenge_method", "S256".to_owned()),
        ];
        if p.is_oidc() {
            query.push(("nonce", login.nonce.clone()));
        }
        let query = serde_urlencoded::to_string(&query).map_err(anyhow::Error::from)?;
        let separator = if endpoints.authorization.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(format!("{}{separator}{query}", endpoints.authorization))
    }

    /// Finishes an upstream login. Every failure after the `state` checks out goes back to
    /// the app as `error=…`; nothing is written unless the whole login succeeds.
    pub async fn federation_callback(
        &self,
        provider: &str,
        state: Option<&str>,
        code: Option<&str>,
        upstream_error: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<CallbackOutcome> {
        let now = self.clock.now();
        let login = match state {
            Some(state) => {
                self.store
                    .take_federation_login(&secrets::digest(state), now)
                    .await?
            }
            None => None,
        };
        let Some(login) = login.filter(|l| l.provider == provider) else {
            return Ok(CallbackOutcome::Failed(UpstreamFailure::InvalidState));
        };
        let result = match (upstream_error, code) {
            (Some(error), _) => Err(UpstreamFailure::Refused(clip(error))),
            (None, None) => Err(UpstreamFailure::Refused("no code".into())),
            (None, Some(code)) => self.federated_user(&login, code, ctx).await,
        };
        let hosted = self.is_hosted_resume(&login.redirect);
        let failure = match result {
            Ok((user_id, trusted_mfa)) if hosted => {
                return Ok(CallbackOutcome::Hosted {
                    user_id,
                    trusted_mfa,
                    resume: login.redirect,
                });
            }
            Ok((user_id, trusted_mfa)) => {
                let code = secrets::random_token(32);
                let purpose = if trusted_mfa {
                    Purpose::FederatedLoginMfaDone
                } else {
                    Purpose::FederatedLogin
                };
                self.store
                    .insert_one_time(
                        &secrets::digest(&code),
                        purpose,
                        user_id,
                        now,
                        now + EXCHANGE_TTL,
                    )
                    .await?;
                return Ok(CallbackOutcome::Redirect(with_query(
                    &login.redirect,
                    "code",
                    &code,
                )));
            }
            Err(failure) => failure,
        };
        self.audit(
            "federation.failure",
            login.link_user_id,
            ctx,
            json!({"provider": provider, "error": failure.code(), "message": failure.message()}),
        )
        .await;
        if hosted {
            return Ok(CallbackOutcome::HostedFailed(failure));
        }
        Ok(CallbackOutcome::Redirect(with_query(
            &login.redirect,
            "error",
            failure.code(),
        )))
    }

    /// Redeems the one-time code from the callback for a session. A user with Castellan MFA
    /// still has to pass it, unless the provider is trusted for MFA.
    pub async fn federation_exchange(
        &self,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<IssuedTokens> {
        let hash = secrets::digest(code);
        let now = self.clock.now();
        let mut found = None;
        for purpose in [Purpose::FederatedLogin, Purpose::FederatedLoginMfaDone] {
            if let Some(user_id) = self.store.take_one_time(&hash, purpose, now).await? {
                found = Some((user_id, purpose));
                break;
            }
        }
        let (user_id, purpose) = found.ok_or(CoreError::TokenInvalid)?;
        let user = self.user(user_id).await?;
        if !user.is_active {
            return Err(CoreError::InvalidCredentials);
        }
        if user.mfa_enabled && purpose == Purpose::FederatedLogin {
            return Err(self.mfa_challenge(&user, ctx).await);
        }
        self.audit(
            "login.success",
            Some(user.id),
            ctx,
            json!({"method": "federation"}),
        )
        .await;
        self.start_session(user, ctx).await
    }

    pub async fn identities(&self, user_id: i64) -> Result<Vec<IdentityRow>> {
        Ok(self.store.identities(user_id).await?)
    }

    /// Unlinks an upstream identity, unless it is the user's last way to sign in.
    pub async fn unlink_identity(&self, user_id: i64, id: i64, ctx: &RequestContext) -> Result<()> {
        let identities = self.store.identities(user_id).await?;
        if !identities.iter().any(|i| i.id == id) {
            return Err(CoreError::NotFound);
        }
        let row = self
            .store
            .find_user(user_id)
            .await?
            .ok_or(CoreError::NotFound)?;
        if row.password_hash == NO_PASSWORD && identities.len() == 1 {
            return Err(CoreError::Conflict {
                code: "LAST_SIGN_IN_METHOD",
                message: "Set a password before unlinking your only sign-in provider.",
            });
        }
        if !self.store.unlink_identity(user_id, id).await? {
            return Err(CoreError::NotFound);
        }
        self.audit(
            "federation.unlinked",
            Some(user_id),
            ctx,
            json!({"identity": id}),
        )
        .await;
        Ok(())
    }

    /// Validates the upstream answer and finds, links or creates the local user. Yields the
    /// user and whether the provider stands in for MFA.
    async fn federated_user(
        &self,
        login: &FederationLogin,
        code: &str,
        ctx: &RequestContext,
    ) -> std::result::Result<(i64, bool), UpstreamFailure> {
        let p = self
            .federation_provider(&login.provider)
            .map_err(|_| UpstreamFailure::InvalidState)?;
        let endpoints = self.upstreams.endpoints(p).await?;
        let callback = self.federation_callback_url(&p.id);
        let tokens = self
            .upstreams
            .exchange_code(p, &endpoints, code, &callback, &login.verifier)
            .await?;
        let claims = self
            .upstream_claims(p, &endpoints, &tokens, &login.nonce)
            .await?;
        let account = read_account(p, &claims)?;
        let user_id = self
            .local_user(p, &account, login.link_user_id, ctx)
            .await
            .map_err(|e| match e {
                CoreError::Upstream(failure) => failure,
                other => {
                    tracing::warn!(error = %other, "federated sign-in failed");
                    UpstreamFailure::Unavailable("the sign-in could not be recorded".into())
                }
            })?;
        Ok((user_id, p.trust_upstream_mfa))
    }

    /// The ID token's claims (validated), completed by UserInfo; or UserInfo alone for
    /// plain OAuth 2.0 providers.
    async fn upstream_claims(
        &self,
        p: &FederationProvider,
        endpoints: &Endpoints,
        tokens: &super::upstream::UpstreamTokens,
        nonce: &str,
    ) -> std::result::Result<Map<String, Value>, UpstreamFailure> {
        let mut claims = Map::new();
        if p.is_oidc() {
            let id_token = tokens
                .id_token
                .as_deref()
                .ok_or_else(|| UpstreamFailure::InvalidIdToken("no ID token".into()))?;
            let leeway = self.settings.tokens.leeway.as_secs().unsigned_abs();
            claims = self
                .upstreams
                .validate_id_token(p, endpoints, id_token, nonce, leeway)
                .await?;
        }
        let wanted = [&p.claims.email, &p.claims.username];
        let incomplete = wanted
            .iter()
            .any(|c| !c.is_empty() && !claims.contains_key(*c));
        if let Some(userinfo) = endpoints.userinfo.as_deref().filter(|_| incomplete) {
            let info = self
                .upstreams
                .get_json(userinfo, Some(&tokens.access_token))
                .await?;
            let Value::Object(info) = info else {
                return Err(UpstreamFailure::Unavailable(
                    "UserInfo is not an object".into(),
                ));
            };
            // OpenID Connect Core 5.3.2: UserInfo must be about the ID token's subject.
            if let Some(sub) = claims.get("sub")
                && info.get("sub") != Some(sub)
            {
                return Err(UpstreamFailure::InvalidIdToken(
                    "UserInfo names another subject".into(),
                ));
            }
            for (k, v) in info {
                claims.entry(k).or_insert(v);
            }
        }
        Ok(claims)
    }

    /// The local user for an upstream account: already linked; linked now (to the signed-in
    /// user, or by verified email when allowed); or created, with the identity, at once.
    async fn local_user(
        &self,
        p: &FederationProvider,
        account: &UpstreamAccount,
        link_to: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<i64> {
        let now = self.clock.now();
        let email = account.email.as_ref().map_or("", Email::as_str);
        let identity = NewIdentity {
            provider: &p.id,
            subject: &account.subject,
            email,
            email_verified: account.email_verified,
        };
        if let Some(owner) = self
            .store
            .identity_owner(&p.id, &account.subject, now)
            .await?
        {
            if link_to.is_some_and(|user| user != owner) {
                return Err(account_error(
                    "identity_in_use",
                    "This account of the provider is linked to another user.",
                ));
            }
            return Ok(owner);
        }
        let existing = match &account.email {
            Some(email) => self.store.find_user_by_email(&email.key()).await?,
            None => None,
        };
        let target = match (link_to, existing) {
            (Some(user), _) => Some(user),
            (None, Some(row)) if p.link_verified_email && account.email_verified => Some(row.id),
            (None, Some(_)) => {
                return Err(account_error(
                    "account_exists",
                    "An account with this email exists: sign in to it and link the provider from your account.",
                ));
            }
            (None, None) => None,
        };
        if let Some(user) = target {
            self.store.link_identity(user, &identity, now).await?;
            self.audit(
                "federation.linked",
                Some(user),
                ctx,
                json!({"provider": p.id}),
            )
            .await;
            return Ok(user);
        }
        if !p.create_users {
            return Err(account_error(
                "signup_disabled",
                "No account is linked to this sign-in and new accounts are not created.",
            ));
        }
        let user = self.create_federated_user(p, account, &identity).await?;
        self.audit(
            "user.registered",
            Some(user),
            ctx,
            json!({"provider": p.id}),
        )
        .await;
        Ok(user)
    }

    async fn create_federated_user(
        &self,
        p: &FederationProvider,
        account: &UpstreamAccount,
        identity: &NewIdentity<'_>,
    ) -> Result<i64> {
        let mut roles = Vec::new();
        for group in &account.groups {
            if let Some(role) = p.roles.get(group)
                && !roles.contains(role)
                && self.store.role_exists(role).await?
            {
                roles.push(role.clone());
            }
        }
        let base = account
            .username
            .as_deref()
            .and_then(|u| Username::parse(u).ok())
            .or_else(|| {
                let local = account
                    .email
                    .as_ref()?
                    .as_str()
                    .split('@')
                    .next()?
                    .to_owned();
                Username::parse(&local).ok()
            })
            .unwrap_or_else(|| {
                Username::parse(&format!("{}-user", p.id))
                    .expect("provider ids are valid usernames")
            });
        let email_key = account.email.as_ref().map(Email::key);
        // A taken username gets a random suffix; the identity itself is unique upstream.
        for attempt in 0..3 {
            let username = match attempt {
                0 => base.as_str().to_owned(),
                _ => format!("{}-{}", base.as_str(), secrets::random_token(4)),
            };
            let Ok(username) = Username::parse(&username) else {
                continue;
            };
            let row = NewUserRow {
                username: username.as_str(),
                username_key: &username.key(),
                email: identity.email,
                email_key: email_key.as_deref(),
                password_hash: NO_PASSWORD,
                first_name: &account.first_name,
                last_name: &account.last_name,
                is_superuser: false,
                roles: &roles,
                now: self.clock.now(),
            };
            match self
                .store
                .insert_user_with_identity(&row, Some(identity))
                .await
            {
                Ok(inserted) => return Ok(inserted.id),
                Err(StoreError::Conflict(what)) if what.contains("username") => continue,
                Err(StoreError::Conflict(_)) => {
                    return Err(account_error(
                        "account_exists",
                        "An account with this email exists: sign in to it and link the provider from your account.",
                    ));
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(account_error(
            "account_exists",
            "No free username was found.",
        ))
    }
}

fn account_error(code: &'static str, message: &str) -> CoreError {
    CoreError::Upstream(UpstreamFailure::Account(code, message.to_owned()))
}

/// Reads the upstream account through the provider's claim mapping.
fn read_account(
    p: &FederationProvider,
    claims: &Map<String, Value>,
) -> std::result::Result<UpstreamAccount, UpstreamFailure> {
    let text = |name: &str| -> Option<String> {
        match claims.get(name)? {
            Value::String(s) if !s.is_empty() => Some(clip(s)),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let map = &p.claims;
    let subject = text(&map.subject).ok_or_else(|| {
        UpstreamFailure::Account("invalid_account", "The provider sent no subject.".into())
    })?;
    let email = text(&map.email).and_then(|e| Email::parse(&e).ok());
    let email_verified = matches!(claims.get(&map.email_verified), Some(Value::Bool(true)))
        || claims.get(&map.email_verified).and_then(Value::as_str) == Some("true");
    let groups = match claims.get(&map.groups) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    Ok(UpstreamAccount {
        subject,
        email,
        email_verified,
        username: text(&map.username),
        first_name: text(&map.first_name).unwrap_or_default(),
        last_name: text(&map.last_name).unwrap_or_default(),
        groups,
    })
}

/// Bounds what an upstream can make us store or echo.
fn clip(s: &str) -> String {
    s.chars().take(255).collect()
}

fn with_query(url: &str, key: &str, value: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    let pair = serde_urlencoded::to_string([(key, value)]).unwrap_or_default();
    format!("{url}{separator}{pair}")
}
