//! Everything that travels by mail: email verification and password reset. Requests queue
//! a job; the mail worker calls `render_mail`, which issues the single-use token.

use serde_json::json;

use super::{
    Core, CoreError, RequestContext, Result, secrets,
    templates::{RESET_PASSWORD, RenderedMail, Templates, VERIFY_EMAIL},
};
use crate::{
    domain::{FieldErrors, User},
    store::{OutboxRow, Purpose, Revoke},
};

impl Core {
    /// Queues a verification mail for a user with an address that is not verified yet.
    pub(crate) async fn queue_verification(&self, user: &User) -> Result<()> {
        if user.email.is_empty() || user.email_verified {
            return Ok(());
        }
        let now = self.clock.now();
        let interval = self.settings.accounts.resend_interval.as_secs();
        self.store
            .claim_verification_slot(user.id, now, interval)
            .await?;
        self.store
            .enqueue_mail(VERIFY_EMAIL, Some(user.id), None, now)
            .await?;
        Ok(())
    }

    /// Another verification mail, at most one per `accounts.resend_interval` per user.
    pub async fn resend_verification(&self, user_id: i64, ctx: &RequestContext) -> Result<()> {
        let user = self.user(user_id).await?;
        if user.email.is_empty() {
            let errors = FieldErrors::single("email", "The account has no email address.");
            return Err(CoreError::Validation(errors));
        }
        if user.email_verified {
            return Err(CoreError::Conflict {
                code: "ALREADY_VERIFIED",
                message: "The email address is already verified",
            });
        }
        let now = self.clock.now();
        let interval = self.settings.accounts.resend_interval.as_secs();
        if !self
            .store
            .claim_verification_slot(user_id, now, interval)
            .await?
        {
            return Err(CoreError::RateLimited {
                retry_after: interval.max(1) as u64,
            });
        }
        self.store
            .enqueue_mail(VERIFY_EMAIL, Some(user_id), None, now)
            .await?;
        self.audit("email.verification_sent", Some(user_id), ctx, json!({}))
            .await;
        Ok(())
    }

    pub async fn verify_email(&self, token: &str, ctx: &RequestContext) -> Result<User> {
        let now = self.clock.now();
        let user_id = self
            .store
            .verify_email_with(&secrets::digest(token), now)
            .await?
            .ok_or(CoreError::TokenInvalid)?;
        self.audit("email.verified", Some(user_id), ctx, json!({}))
            .await;
        self.user(user_id).await
    }

    /// Queues a reset mail for whoever owns `email`. The request does the same work whether
    /// or not the address is known (the worker finds out), so neither the answer nor its
    /// timing tells.
    pub async fn forgot_password(&self, email: &str, ctx: &RequestContext) -> Result<()> {
        let address = email.trim().to_lowercase();
        if address.is_empty() || address.len() > 254 || !address.contains('@') {
            let errors = FieldErrors::single("email", "Enter a valid email address.");
            return Err(CoreError::Validation(errors));
        }
        self.store
            .enqueue_mail(RESET_PASSWORD, None, Some(&address), self.clock.now())
            .await?;
        self.audit("password.reset_requested", None, ctx, json!({}))
            .await;
        Ok(())
    }

    /// Sets a new password with a reset token; the token is spent and every session of the
    /// user ends, in one transaction.
    pub async fn reset_password(
        &self,
        token: &str,
        new_raw: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let hash = secrets::digest(token);
        let user_id = self
            .store
            .peek_one_time(&hash, Purpose::ResetPassword, self.clock.now())
            .await?
            .ok_or(CoreError::TokenInvalid)?;
        let user = self.user(user_id).await?;
        let new = self
            .new_password(new_raw, &[&user.username, &user.email])
            .map_err(|m| CoreError::Validation(FieldErrors::single("new_password", m)))?;
        let password_hash = self.hasher.hash(new.secret()).await?;
        let revocation = self.revocation(Revoke::AllOfUser(user_id), "password_reset");
        let ids = self
            .store
            .reset_password_with(&hash, user_id, &password_hash, &revocation)
            .await?
            .ok_or(CoreError::TokenInvalid)?;
        self.announce(&ids, revocation.keep_until).await;
        let revoked = self.revoked_locally(ids, revocation.keep_until);
        self.audit(
            "password.reset",
            Some(user_id),
            ctx,
            json!({"sessions_revoked": revoked}),
        )
        .await;
        Ok(())
    }

    /// Turns an outbox job into a mail, issuing its token; `None` when there is nothing to
    /// send (unknown or inactive account, address already verified).
    pub(crate) async fn render_mail(
        &self,
        job: &OutboxRow,
        templates: &Templates,
    ) -> Result<Option<RenderedMail>> {
        let accounts = &self.settings.accounts;
        let (row, purpose, ttl, path) = match job.kind.as_str() {
            VERIFY_EMAIL => {
                let row = match job.user_id {
                    Some(id) => self.store.find_user(id).await?,
                    None => None,
                };
                let row = row.filter(|u| !u.email_verified);
                let ttl = accounts.verification_ttl.as_secs();
                (row, Purpose::VerifyEmail, ttl, "verify-email")
            }
            RESET_PASSWORD => {
                let address = job.address.as_deref().unwrap_or_default();
                let row = self.store.find_user_by_email(address).await?;
                let ttl = accounts.reset_ttl.as_secs();
                (row, Purpose::ResetPassword, ttl, "reset-password")
            }
            _ => return Ok(None),
        };
        let Some(user) = row.filter(|u| u.is_active && !u.email.is_empty()) else {
            return Ok(None);
        };
        let token = secrets::random_token(32);
        let now = self.clock.now();
        self.store
            .insert_one_time(&secrets::digest(&token), purpose, user.id, now, now + ttl)
            .await?;
        let base = accounts
            .link_base
            .as_deref()
            .unwrap_or(&self.settings.server.public_url)
            .trim_end_matches('/');
        let link = format!("{base}/{path}?token={token}");
        let minutes = (ttl / 60).max(1).to_string();
        let values = [
            ("username", user.username.as_str()),
            ("link", link.as_str()),
            ("token", token.as_str()),
            ("expires_minutes", minutes.as_str()),
        ];
        Ok(templates.render(&job.kind, &user.email, &values))
    }
}
