//! The operations every HTTP surface calls. Adapters parse and render; rules live here.

mod accounts;
mod admin;
mod api_keys;
mod audit_trail;
mod clock;
mod federation;
mod keys;
mod legacy_hashes;
mod legacy_tokens;
mod mail;
mod mail_flows;
mod mfa;
mod oauth_clients;
mod oidc;
mod passkeys;
mod passwords;
mod rbac;
mod revocations;
mod sealing;
pub mod secrets;
mod session_list;
mod sessions;
mod templates;
mod throttle;
mod throttle_counters;
mod tokens;
mod upstream;
mod user_cache;
mod user_import;
mod verified_tokens;

use std::sync::Arc;

pub use accounts::Registration;
pub use admin::{UserPage, UserPatch};
pub use api_keys::{ApiKeyGrant, ApiKeyView, NewApiKey};
pub use audit_trail::AuditEntry;
pub use clock::{Clock, rfc3339};
pub use federation::CallbackOutcome;
pub use keys::KeyRing;
pub use mail::MailWorker;
pub use mfa::{SecondFactor, TotpSetup};
pub use oauth_clients::{ClientCredentials, NewClient, OAuthClient};
pub use oidc::{CodeRequest, OAuthError, OAuthTokens, has_scope, pkce_s256};
pub use passkeys::{Ceremony, PasskeyView};
pub use passwords::PasswordHasher;
pub use rbac::{Actor, perms};
pub use revocations::Revocations;
pub use session_list::SessionView;
pub use sessions::{IssuedTokens, RefreshInfo, Rotation};
pub use tokens::{AccessClaims, AccessToken, VerifiedToken};
pub use upstream::UpstreamFailure;
pub use user_import::{ImportRecord, ImportReport, ImportRow};

use crate::{
    config::Settings,
    domain::{FieldErrors, PasswordPolicy},
    shared::RedisLink,
    store::{AuditEvent, Event, Store, StoreError},
};

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("token invalid")]
    TokenInvalid,
    /// The refresh token was valid once but its session reached its absolute lifetime.
    #[error("token expired")]
    TokenExpired,
    #[error("validation failed")]
    Validation(FieldErrors),
    #[error("user exists")]
    UserExists(FieldErrors),
    #[error("not found")]
    NotFound,
    /// The password was right but the user has MFA: the login continues with this token.
    #[error("mfa required")]
    MfaRequired { mfa_token: crate::domain::Secret },
    /// The password was right but `accounts.require_verified_email` is on.
    #[error("email not verified")]
    EmailNotVerified,
    /// A TOTP or recovery code that is wrong or already used.
    #[error("invalid code")]
    InvalidCode,
    /// Authenticated, but not allowed to do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The resource exists already or is in a state that refuses the change.
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: &'static str,
    },
    /// The password hashing queue is full.
    #[error("overloaded")]
    Overloaded,
    /// The caller has tried too often; it may try again after this many seconds.
    #[error("rate limited")]
    RateLimited { retry_after: u64 },
    /// A sign-in through an upstream identity provider failed.
    #[error("{}", .0.message())]
    Upstream(upstream::UpstreamFailure),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T> = std::result::Result<T, CoreError>;

/// Who is asking, for sessions and the audit trail.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

pub struct Core {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub clock: Clock,
    pub keys: KeyRing,
    pub revocations: Revocations,
    pub hasher: PasswordHasher,
    /// Access tokens already verified once (signature and registered claims).
    verified_tokens: verified_tokens::VerifiedTokens,
    /// Users' profiles and roles, as `/auth/me` and a refresh need them.
    users: user_cache::UserCache,
    /// Login-throttle counters (shared on PostgreSQL, per instance on SQLite).
    throttle: throttle_counters::ThrottleCounters,
    /// Optional Redis for fan-out and shared counters.
    pub redis: Option<Arc<RedisLink>>,
    legacy_tokens: Option<legacy_tokens::LegacyTokens>,
    policy: PasswordPolicy,
    /// Derives each refresh token's successor, so a retried rotation returns the same one.
    refresh_key: Vec<u8>,
    /// Client and caches for upstream identity providers.
    upstreams: upstream::Upstreams,
}

impl Core {
    pub async fn new(settings: Arc<Settings>, store: Store) -> anyhow::Result<Self> {
        let clock = Clock::default();
        let now = clock.now();
        let retention = settings.tokens.access_ttl.as_secs() + settings.tokens.leeway.as_secs();
        let keys = KeyRing::load(
            &store,
            settings.tokens.algorithm,
            settings.tokens.secret.as_deref(),
            retention,
            now,
        )
        .await?;
        let refresh_key = store
            .server_secret("refresh_derivation", &secrets::random_bytes(32), now)
            .await?;
        let revocations = Revocations::default();
        revocations.sync(&store, now).await?;
        let redis = match &settings.redis.url {
            Some(url) => Some(RedisLink::new(url, &settings.redis.prefix)?),
            None => None,
        };
        Ok(Self {
            throttle: throttle_counters::ThrottleCounters::for_store(&store),
            verified_tokens: verified_tokens::VerifiedTokens::default(),
            users: user_cache::UserCache::new(std::time::Duration::from_secs(
                u64::try_from(settings.cache.user_ttl.as_secs()).unwrap_or(0),
            )),
            hasher: PasswordHasher::new(&settings.passwords)?,
            redis,
            legacy_tokens: legacy_tokens::LegacyTokens::new(
                settings.tokens.legacy_hs256_secret.as_deref(),
            ),
            policy: PasswordPolicy::default(),
            settings,
            store,
            clock,
            keys,
            revocations,
            refresh_key,
            upstreams: upstream::Upstreams::default(),
        })
    }

    /// Applies another instance's change announced through the database.
    pub async fn apply(&self, event: Event) {
        match event {
            Event::Revoked(ids, until) => {
                self.revoked_locally(ids, until);
            }
            Event::KeysChanged => self.reload_keys().await,
            Event::Resync => {
                self.sync_revocations().await;
                self.reload_keys().await;
            }
        }
    }

    /// Pulls revocations other instances recorded (the backstop for missed notifications,
    /// and the only channel between instances sharing a SQLite file).
    pub async fn sync_revocations(&self) {
        if let Err(e) = self.revocations.sync(&self.store, self.clock.now()).await {
            tracing::warn!(error = %e, "revocation sync failed");
        }
    }

    /// Picks up keys added or retired by other instances or `castellan keys rotate`.
    pub async fn reload_keys(&self) {
        if let Err(e) = self.keys.reload(&self.store, self.clock.now()).await {
            tracing::warn!(error = %e, "signing key reload failed");
        }
    }

    /// Forgets what can no longer matter: expired revocations and sessions.
    pub async fn prune(&self) {
        let now = self.clock.now();
        self.revocations.prune(now);
        self.verified_tokens.prune(now);
        if let Err(e) = self.store.prune_expired(now).await {
            tracing::warn!(error = %e, "pruning expired sessions failed");
        }
        let stale = now - 2 * 3600 - self.settings.limits.lock_max.as_secs();
        if let Err(e) = self.throttle.prune(stale).await {
            tracing::warn!(error = %e, "pruning throttle counters failed");
        }
        self.prune_accounts(now).await;
        self.prune_oauth().await;
    }

    /// Records an audit event; a failure to record is logged, never shown to the caller.
    pub async fn audit(
        &self,
        event: &str,
        user_id: Option<i64>,
        ctx: &RequestContext,
        details: serde_json::Value,
    ) {
        let e = AuditEvent {
            at: self.clock.now(),
            event,
            user_id,
            actor_id: None,
            ip: ctx.ip.as_deref(),
            request_id: ctx.request_id.as_deref(),
            details,
        };
        if let Err(err) = self.store.record_audit(&e).await {
            tracing::warn!(error = %err, event, "audit event not recorded");
        }
    }
}
