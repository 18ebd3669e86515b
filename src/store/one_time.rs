//! Single-use tokens (email verification, password reset, the MFA step of a login), stored
//! as SHA-256 digests. Consuming one is a conditional update: exactly one caller wins.

use super::{
    Result, Store, on_db,
    sessions::{Revocation, Revoke, revoke_in, revoke_where},
};

/// Spends a live token of a purpose: binds `$1` now, `$2` hash, `$3` purpose; yields the owner.
macro_rules! consume_sql {
    () => {
        "UPDATE one_time_tokens SET used_at = $1 WHERE hash = $2 AND purpose = $3 \
         AND used_at IS NULL AND expires_at > $1 RETURNING user_id"
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
    Mfa,
    /// The one-time code a federated login hands the app.
    FederatedLogin,
    /// As `FederatedLogin`, from a provider trusted to have done MFA.
    FederatedLoginMfaDone,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
            Purpose::Mfa => "mfa",
            Purpose::FederatedLogin => "federated_login",
            Purpose::FederatedLoginMfaDone => "federated_login_mfa_done",
        }
    }
}

/// Wrong codes allowed per MFA token before it is spent.
pub const MFA_ATTEMPTS: i64 = 5;

impl Store {
    pub async fn insert_one_time(
        &self,
        hash: &str,
        purpose: Purpose,
        user_id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        let sql = "INSERT INTO one_time_tokens (hash, purpose, user_id, created_at, expires_at) \
                   VALUES ($1, $2, $3, $4, $5)";
        on_db!(self.db(), pool => sqlx::query(sql).bind(hash).bind(purpose.as_str()).bind(user_id)
            .bind(now).bind(expires_at).execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// Spends a live token of `purpose`, yielding its owner; of concurrent callers one wins.
    pub async fn take_one_time(
        &self,
        hash: &str,
        purpose: Purpose,
        now: i64,
    ) -> Result<Option<i64>> {
        Ok(
            on_db!(self.db(), pool => sqlx::query_scalar(consume_sql!()).bind(now).bind(hash)
            .bind(purpose.as_str()).fetch_optional(pool).await?),
        )
    }

    /// The owner of a live, unused token.
    pub async fn peek_one_time(
        &self,
        hash: &str,
        purpose: Purpose,
        now: i64,
    ) -> Result<Option<i64>> {
        let sql = "SELECT user_id FROM one_time_tokens WHERE hash = $1 AND purpose = $2 \
                   AND used_at IS NULL AND expires_at > $3";
        Ok(
            on_db!(self.db(), pool => sqlx::query_scalar(sql).bind(hash).bind(purpose.as_str())
            .bind(now).fetch_optional(pool).await?),
        )
    }

    /// Counts one attempt at an MFA token; the owner while attempts remain.
    pub async fn attempt_mfa_token(&self, hash: &str, now: i64) -> Result<Option<i64>> {
        let sql = "UPDATE one_time_tokens SET attempts = attempts + 1 WHERE hash = $1 AND purpose = $2 \
                   AND used_at IS NULL AND expires_at > $3 AND attempts < $4 RETURNING user_id";
        Ok(
            on_db!(self.db(), pool => sqlx::query_scalar(sql).bind(hash).bind(Purpose::Mfa.as_str())
            .bind(now).bind(MFA_ATTEMPTS).fetch_optional(pool).await?),
        )
    }

    /// Marks the email of the token's owner verified; `None` if the token is spent or expired.
    pub async fn verify_email_with(&self, hash: &str, now: i64) -> Result<Option<i64>> {
        let _changed = self.changing_users();
        on_db!(self.db(), pool => {
            let mut tx = pool.begin().await?;
            let user: Option<i64> = sqlx::query_scalar(consume_sql!())
                .bind(now).bind(hash).bind(Purpose::VerifyEmail.as_str())
                .fetch_optional(&mut *tx).await?;
            if let Some(id) = user {
                sqlx::query("UPDATE users SET email_verified = TRUE, updated_at = $1 WHERE id = $2")
                    .bind(now).bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(user)
        })
    }

    /// Spends a reset token, sets the new password hash and revokes every session of the
    /// user, in one transaction. `None` (and nothing changed) if the token was spent first.
    pub async fn reset_password_with(
        &self,
        hash: &str,
        user_id: i64,
        password_hash: &str,
        r: &Revocation<'_>,
    ) -> Result<Option<Vec<String>>> {
        let _changed = self.changing_users();
        let ids = on_db!(self.db(), pool => {
            let mut tx = pool.begin().await?;
            let owner: Option<i64> = sqlx::query_scalar(consume_sql!())
                .bind(r.now).bind(hash).bind(Purpose::ResetPassword.as_str())
                .fetch_optional(&mut *tx).await?;
            if owner != Some(user_id) {
                tx.rollback().await?;
                return Ok(None);
            }
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(password_hash).bind(r.now).bind(user_id).execute(&mut *tx).await?;
            // Other reset links of the user die with this one.
            sqlx::query("UPDATE one_time_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL")
                .bind(r.now).bind(user_id).bind(Purpose::ResetPassword.as_str()).execute(&mut *tx).await?;
            let ids = revoke_in!(tx, r);
            tx.commit().await?;
            ids
        });
        self.publish_revocations(&ids, r.keep_until).await;
        Ok(Some(ids))
    }

    /// Forgets outstanding tokens of one purpose (e.g. verification links after an email change).
    pub async fn drop_one_time(&self, user_id: i64, purpose: Purpose) -> Result<()> {
        let sql =
            "DELETE FROM one_time_tokens WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL";
        on_db!(self.db(), pool => sqlx::query(sql).bind(user_id).bind(purpose.as_str())
            .execute(pool).await.map(|_| ())?);
        Ok(())
    }

    pub async fn prune_one_time(&self, before: i64) -> Result<()> {
        let sql = "DELETE FROM one_time_tokens WHERE expires_at <= $1";
        on_db!(self.db(), pool => sqlx::query(sql).bind(before).execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// Allows one verification mail per `interval` per user, across instances.
    pub async fn claim_verification_slot(
        &self,
        user_id: i64,
        now: i64,
        interval: i64,
    ) -> Result<bool> {
        let _changed = self.changing_users();
        let sql = "UPDATE users SET verification_sent_at = $1 WHERE id = $2 \
                   AND (verification_sent_at IS NULL OR verification_sent_at <= $3)";
        let n = on_db!(self.db(), pool => sqlx::query(sql).bind(now).bind(user_id).bind(now - interval)
            .execute(pool).await?.rows_affected());
        Ok(n == 1)
    }
}
