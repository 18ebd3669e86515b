//! TOTP secrets and recovery codes. Every acceptance of a code is one conditional update,
//! so a code (or a recovery code) is good exactly once across all instances.

use super::{Result, Store, on_db};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TotpRow {
    pub secret: String,
    pub confirmed_at: Option<i64>,
    pub last_step: i64,
}

/// The factor that completes an MFA step.
pub enum Factor<'a> {
    /// A TOTP code matched this time step.
    Step(i64),
    /// The digest of a recovery code.
    Recovery(&'a str),
    /// A passkey assertion, already verified (its ceremony was single-use).
    Passkey,
}

impl Store {
    pub async fn totp(&self, user_id: i64) -> Result<Option<TotpRow>> {
        let sql = "SELECT secret, confirmed_at, last_step FROM totp_secrets WHERE user_id = $1";
        Ok(on_db!(self.db(), pool => sqlx::query_as(sql).bind(user_id).fetch_optional(pool).await?))
    }

    /// Stores a new, unconfirmed secret, unless MFA is already on.
    pub async fn put_pending_totp(&self, user_id: i64, secret: &str, now: i64) -> Result<bool> {
        let sql = "INSERT INTO totp_secrets (user_id, secret, created_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, \
                   last_step = 0 WHERE totp_secrets.confirmed_at IS NULL";
        let n = on_db!(self.db(), pool => sqlx::query(sql).bind(user_id).bind(secret).bind(now)
            .execute(pool).await?.rows_affected());
        Ok(n == 1)
    }

    /// Confirms the pending `secret` at `step`, turns MFA on and replaces the recovery codes.
    pub async fn confirm_totp(
        &self,
        user_id: i64,
        secret: &str,
        step: i64,
        recovery_hashes: &[String],
        now: i64,
    ) -> Result<bool> {
        let _changed = self.changing_users();
        let confirm = "UPDATE totp_secrets SET confirmed_at = $1, last_step = $2 \
                       WHERE user_id = $3 AND secret = $4 AND confirmed_at IS NULL AND last_step < $2";
        on_db!(self.db(), pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(confirm).bind(now).bind(step).bind(user_id).bind(secret)
                .execute(&mut *tx).await?.rows_affected();
            if n != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query("UPDATE users SET mfa_enabled = TRUE, updated_at = $1 WHERE id = $2")
                .bind(now).bind(user_id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            for hash in recovery_hashes {
                sqlx::query("INSERT INTO recovery_codes (hash, user_id) VALUES ($1, $2)")
                    .bind(hash).bind(user_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Records that `step` was used: true only for the first use of a step not older than
    /// the last one accepted.
    pub async fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool> {
        let sql = "UPDATE totp_secrets SET last_step = $1 WHERE user_id = $2 \
                   AND confirmed_at IS NOT NULL AND last_step < $1";
        let n = on_db!(self.db(), pool => sqlx::query(sql).bind(step).bind(user_id)
            .execute(pool).await?.rows_affected());
        Ok(n == 1)
    }

    /// Spends the MFA token and the factor together; false (nothing spent) if either was
    /// spent already.
    pub async fn complete_mfa(
        &self,
        token_hash: &str,
        user_id: i64,
        factor: &Factor<'_>,
        now: i64,
    ) -> Result<bool> {
        let spend_token = "UPDATE one_time_tokens SET used_at = $1 WHERE hash = $2 AND user_id = $3 \
                           AND purpose = 'mfa' AND used_at IS NULL AND expires_at > $1";
        let step = "UPDATE totp_secrets SET last_step = $1 WHERE user_id = $2 \
                    AND confirmed_at IS NOT NULL AND last_step < $1";
        let recovery = "UPDATE recovery_codes SET used_at = $1 WHERE hash = $2 AND user_id = $3 AND used_at IS NULL";
        on_db!(self.db(), pool => {
            let mut tx = pool.begin().await?;
            let spent = sqlx::query(spend_token).bind(now).bind(token_hash).bind(user_id)
                .execute(&mut *tx).await?.rows_affected() == 1;
            let used = spent && match factor {
                Factor::Step(s) => sqlx::query(step).bind(*s).bind(user_id)
                    .execute(&mut *tx).await?.rows_affected() == 1,
                Factor::Recovery(hash) => sqlx::query(recovery).bind(now).bind(*hash).bind(user_id)
                    .execute(&mut *tx).await?.rows_affected() == 1,
                Factor::Passkey => true,
            };
            if !used {
                tx.rollback().await?;
                return Ok(false);
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    pub async fn remaining_recovery_codes(&self, user_id: i64) -> Result<i64> {
        let sql = "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL";
        Ok(on_db!(self.db(), pool => sqlx::query_scalar(sql).bind(user_id).fetch_one(pool).await?))
    }

    /// Turns TOTP off: the secret and the recovery codes are deleted; MFA stays on while
    /// the user has a passkey.
    pub async fn disable_totp(&self, user_id: i64, now: i64) -> Result<()> {
        let _changed = self.changing_users();
        on_db!(self.db(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM totp_secrets WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            sqlx::query("UPDATE users SET updated_at = $1 WHERE id = $2")
                .bind(now).bind(user_id).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        self.recompute_mfa(user_id).await
    }
}
