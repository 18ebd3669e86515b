//! Registration, password authentication and the user view.

use serde_json::json;

use super::{Core, CoreError, IssuedTokens, RequestContext, Result, throttle::Gate};
use crate::{
    domain::{Email, FieldErrors, NewPassword, Secret, User, Username},
    store::{NewUserRow, Revoke, StoreError, UserRow},
};

/// A validated registration request. The email is optional: SimpleJWT-style registration
/// and Django accounts may have none, which is stored as an empty email (never a placeholder).
pub struct Registration {
    pub username: Username,
    pub email: Option<Email>,
    pub password: NewPassword,
    pub first_name: String,
    pub last_name: String,
    pub is_superuser: bool,
    pub roles: Vec<String>,
}

impl Core {
    /// Checks a new password against the policy and the user's own names.
    pub fn new_password(
        &self,
        raw: &str,
        related: &[&str],
    ) -> std::result::Result<NewPassword, &'static str> {
        self.policy.parse(raw, related)
    }

    pub async fn register(&self, r: Registration, ctx: &RequestContext) -> Result<User> {
        for role in &r.roles {
            if !self.store.role_exists(role).await? {
                return Err(CoreError::Validation(FieldErrors::single(
                    "roles",
                    format!("Unknown role `{role}`."),
                )));
            }
        }
        if let Some(existing) = self.store.find_user_by_login(&r.username.key()).await? {
            return Err(user_exists(&existing, &r.username));
        }
        if let Some(email) = &r.email
            && let Some(existing) = self.store.find_user_by_login(&email.key()).await?
        {
            return Err(user_exists(&existing, &r.username));
        }
        let hash = self.hasher.hash(r.password.secret()).await?;
        let email_key = r.email.as_ref().map(Email::key);
        let row = NewUserRow {
            username: r.username.as_str(),
            username_key: &r.username.key(),
            email: r.email.as_ref().map_or("", Email::as_str),
            email_key: email_key.as_deref(),
            password_hash: &hash,
            first_name: r.first_name.trim(),
            last_name: r.last_name.trim(),
            is_superuser: r.is_superuser,
            roles: &r.roles,
            now: self.clock.now(),
        };
        let inserted = self.store.insert_user(&row).await.map_err(|e| match e {
            StoreError::Conflict(what) if what.contains("email") => CoreError::UserExists(
                FieldErrors::single("email", "A user with that email already exists."),
            ),
            StoreError::Conflict(_) => CoreError::UserExists(FieldErrors::single(
                "username",
                "A user with that username already exists.",
            )),
            other => other.into(),
        })?;
        self.audit(
            "user.registered",
            Some(inserted.id),
            ctx,
            json!({"username": inserted.username}),
        )
        .await;
        let user = user_view(inserted, r.roles);
        if let Err(e) = self.queue_verification(&user).await {
            // The account exists; the user can ask for the mail again.
            tracing::warn!(error = %e, user_id = user.id, "verification mail not queued");
        }
        Ok(user)
    }

    /// Checks a username-or-email and password. Unknown, wrong, disabled and locked all fail
    /// the same way after about the same time.
    pub async fn authenticate(
        &self,
        login: &str,
        password: &Secret,
        ctx: &RequestContext,
    ) -> Result<User> {
        let key = login.trim().to_lowercase();
        // Every attempt is counted first, even one the hashing queue then refuses.
        let attempt = match self.admit_login(&key, ctx.ip.as_deref()).await? {
            Gate::Open(attempt) => attempt,
            Gate::SourceBlocked { retry_after } => {
                self.audit("login.throttled", None, ctx, json!({"scope": "source"}))
                    .await;
                return Err(CoreError::RateLimited { retry_after });
            }
            Gate::Locked => {
                self.audit(
                    "login.throttled",
                    None,
                    ctx,
                    json!({"scope": "account", "login": clip(login)}),
                )
                .await;
                return Err(self.refuse_like_a_wrong_password().await);
            }
        };
        let slot = self.hasher.reserve()?;
        let row = if key.is_empty() || key.len() > 254 {
            None
        } else {
            self.store.find_user_by_login(&key).await?
        };
        let verdict = self
            .hasher
            .verify(
                slot,
                password,
                row.as_ref().map(|r| r.password_hash.as_str()),
            )
            .await?;
        let row = match row {
            Some(row) if verdict.valid && row.is_active => row,
            other => {
                self.login_failed(&attempt).await?;
                self.audit(
                    "login.failure",
                    other.map(|r| r.id),
                    ctx,
                    json!({"login": clip(login)}),
                )
                .await;
                return Err(CoreError::InvalidCredentials);
            }
        };
        self.login_succeeded(&attempt).await?;
        if verdict.outdated {
            self.upgrade_hash(&row, password).await;
        }
        if self.settings.accounts.require_verified_email && !row.email_verified {
            self.audit(
                "login.failure",
                Some(row.id),
                ctx,
                json!({"reason": "email_not_verified"}),
            )
            .await;
            return Err(CoreError::EmailNotVerified);
        }
        // With MFA the password is only the first step; the second one records the success.
        let event = if row.mfa_enabled {
            "login.password_verified"
        } else {
            "login.success"
        };
        self.audit(event, Some(row.id), ctx, json!({})).await;
        self.user_with_roles(row).await
    }

    /// Registers and starts a session at once (registration endpoints that answer with tokens).
    pub async fn sign_up(&self, r: Registration, ctx: &RequestContext) -> Result<IssuedTokens> {
        let user = self.register(r, ctx).await?;
        self.start_session(user, ctx).await
    }

    pub async fn login(
        &self,
        login: &str,
        password: &Secret,
        ctx: &RequestContext,
    ) -> Result<IssuedTokens> {
        let result = self.authenticate_and_start(login, password, ctx).await;
        let outcome = match &result {
            Ok(_) => "success",
            Err(CoreError::InvalidCredentials) => "invalid_credentials",
            Err(CoreError::MfaRequired { .. }) => "mfa_required",
            Err(CoreError::EmailNotVerified) => "email_not_verified",
            Err(CoreError::RateLimited { .. }) => "throttled",
            Err(CoreError::Overloaded) => "overloaded",
            Err(_) => "error",
        };
        crate::metrics::count("castellan_logins_total", &[("outcome", outcome)]);
        result
    }

    async fn authenticate_and_start(
        &self,
        login: &str,
        password: &Secret,
        ctx: &RequestContext,
    ) -> Result<IssuedTokens> {
        let user = self.authenticate(login, password, ctx).await?;
        if user.mfa_enabled {
            return Err(self.mfa_challenge(&user, ctx).await);
        }
        self.start_session(user, ctx).await
    }

    /// Re-hashes with current parameters; a failure leaves the old, still valid hash.
    async fn upgrade_hash(&self, row: &UserRow, password: &Secret) {
        let outcome = match self.hasher.hash(password).await {
            Ok(new) => self
                .store
                .replace_password_hash(row.id, &row.password_hash, &new, self.clock.now())
                .await
                .map_err(CoreError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, user_id = row.id, "password hash upgrade failed");
        }
    }

    /// Changes the caller's password after checking the current one, and ends every other
    /// session of the user in the same transaction.
    pub async fn change_password(
        &self,
        user_id: i64,
        session_id: &str,
        current: &Secret,
        new_raw: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let row = self
            .store
            .find_user(user_id)
            .await?
            .ok_or(CoreError::TokenInvalid)?;
        let verdict = self
            .hasher
            .verify(self.hasher.reserve()?, current, Some(&row.password_hash))
            .await?;
        if !verdict.valid {
            let errors =
                FieldErrors::single("current_password", "The current password is incorrect.");
            return Err(CoreError::Validation(errors));
        }
        let new = self
            .new_password(new_raw, &[&row.username, &row.email])
            .map_err(|m| CoreError::Validation(FieldErrors::single("new_password", m)))?;
        let hash = self.hasher.hash(new.secret()).await?;
        let revocation = self.revocation(
            Revoke::AllOfUserExcept(user_id, session_id),
            "password_changed",
        );
        let ids = self
            .store
            .change_password(user_id, &row.password_hash, &hash, &revocation)
            .await?
            // Changed concurrently by another request: let the caller retry with fresh data.
            .ok_or(CoreError::Validation(FieldErrors::single(
                "current_password",
                "The password was just changed; try again.",
            )))?;
        self.announce(&ids, revocation.keep_until).await;
        let revoked = self.revoked_locally(ids, revocation.keep_until);
        self.audit(
            "password.changed",
            Some(user_id),
            ctx,
            json!({"sessions_revoked": revoked}),
        )
        .await;
        Ok(())
    }

    pub async fn user(&self, id: i64) -> Result<User> {
        let row = self.store.find_user(id).await?.ok_or(CoreError::NotFound)?;
        self.user_with_roles(row).await
    }

    /// The user as `user` reads it, served from memory while no write can have changed it
    /// (see `user_cache.rs`): for the hot paths, `/auth/me` and refresh.
    pub async fn cached_user(&self, id: i64) -> Result<User> {
        let generation = self.store.users_generation();
        if let Some(user) = self.users.get(id, generation) {
            return Ok(user);
        }
        let user = self.user(id).await?;
        self.users.insert(generation, &user);
        Ok(user)
    }

    async fn user_with_roles(&self, row: UserRow) -> Result<User> {
        let roles = self.store.user_roles(row.id).await?;
        Ok(user_view(row, roles))
    }
}

/// At most 150 characters of what the client typed, for the audit trail.
fn clip(login: &str) -> String {
    login.chars().take(150).collect()
}

fn user_exists(existing: &UserRow, wanted: &Username) -> CoreError {
    let field = if existing.username.to_lowercase() == wanted.key() {
        "username"
    } else {
        "email"
    };
    CoreError::UserExists(FieldErrors::single(
        field,
        format!("A user with that {field} already exists."),
    ))
}

pub(super) fn user_view(row: UserRow, roles: Vec<String>) -> User {
    User {
        id: row.id,
        username: row.username,
        email: row.email,
        first_name: row.first_name,
        last_name: row.last_name,
        is_active: row.is_active,
        is_superuser: row.is_superuser,
        email_verified: row.email_verified,
        roles,
        mfa_enabled: row.mfa_enabled,
        created_at: super::rfc3339(row.created_at),
    }
}
