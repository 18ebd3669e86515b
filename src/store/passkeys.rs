//! WebAuthn credentials (passkeys) and the state of ceremonies between their two requests.

use super::{Result, Store, on_db};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PasskeyRow {
    pub id: String,
    pub user_id: i64,
    pub name: String,
    /// The serialised credential (public key, counter, flags).
    pub passkey: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Sets `users.mfa_enabled` from the factors the user has; binds `$1` to the user id.
const RECOMPUTE_MFA: &str = "UPDATE users SET mfa_enabled = \
    (EXISTS (SELECT 1 FROM totp_secrets WHERE user_id = $1 AND confirmed_at IS NOT NULL) \
     OR EXISTS (SELECT 1 FROM webauthn_credentials WHERE user_id = $1)) WHERE id = $1";

impl Store {
    pub async fn passkeys(&self, user_id: i64) -> Result<Vec<PasskeyRow>> {
        let sql = "SELECT id, user_id, name, passkey, created_at, last_used_at FROM webauthn_credentials \
                   WHERE user_id = $1 ORDER BY created_at, id";
        Ok(on_db!(self.db(), pool => sqlx::query_as(sql).bind(user_id).fetch_all(pool).await?))
    }

    /// Stores a new credential and turns MFA on; `Conflict` if the credential is registered.
    pub async fn insert_passkey(&self, p: &PasskeyRow) -> Result<()> {
        let _changed = self.changing_users();
        let sql = "INSERT INTO webauthn_credentials (id, user_id, name, passkey, created_at) \
                   VALUES ($1, $2, $3, $4, $5)";
        on_db!(self.db(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(sql).bind(&p.id).bind(p.user_id).bind(&p.name).bind(&p.passkey).bind(p.created_at)
                .execute(&mut *tx).await?;
            sqlx::query(RECOMPUTE_MFA).bind(p.user_id).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records a use, with the credential's updated counter when it changed.
    pub async fn touch_passkey(&self, id: &str, passkey: Option<&str>, now: i64) -> Result<()> {
        let sql = "UPDATE webauthn_credentials SET passkey = COALESCE($1, passkey), last_used_at = $2 WHERE id = $3";
        on_db!(self.db(), pool => sqlx::query(sql).bind(passkey).bind(now).bind(id)
            .execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// Removes one of the user's credentials; MFA stays on only if another factor remains.
    pub async fn delete_passkey(&self, user_id: i64, id: &str) -> Result<bool> {
        let _changed = self.changing_users();
        let sql = "DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2";
        on_db!(self.db(), pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(sql).bind(id).bind(user_id).execute(&mut *tx).await?.rows_affected();
            sqlx::query(RECOMPUTE_MFA).bind(user_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    /// Re-derives `users.mfa_enabled` after a factor went away.
    pub async fn recompute_mfa(&self, user_id: i64) -> Result<()> {
        let _changed = self.changing_users();
        on_db!(self.db(), pool => sqlx::query(RECOMPUTE_MFA).bind(user_id).execute(pool).await.map(|_| ())?);
        Ok(())
    }

    pub async fn insert_ceremony(
        &self,
        id: &str,
        user_id: i64,
        kind: &str,
        state: &str,
        expires_at: i64,
    ) -> Result<()> {
        let sql = "INSERT INTO webauthn_ceremonies (id, user_id, kind, state, expires_at) VALUES ($1, $2, $3, $4, $5)";
        on_db!(self.db(), pool => sqlx::query(sql).bind(id).bind(user_id).bind(kind).bind(state).bind(expires_at)
            .execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// Takes a live ceremony's state out of the database (once): `(user_id, state)`.
    pub async fn take_ceremony(
        &self,
        id: &str,
        kind: &str,
        now: i64,
    ) -> Result<Option<(i64, String)>> {
        let sql = "DELETE FROM webauthn_ceremonies WHERE id = $1 AND kind = $2 AND expires_at > $3 \
                   RETURNING user_id, state";
        Ok(
            on_db!(self.db(), pool => sqlx::query_as(sql).bind(id).bind(kind).bind(now)
            .fetch_optional(pool).await?),
        )
    }

    pub async fn prune_ceremonies(&self, now: i64) -> Result<()> {
        let sql = "DELETE FROM webauthn_ceremonies WHERE expires_at <= $1";
        on_db!(self.db(), pool => sqlx::query(sql).bind(now).execute(pool).await.map(|_| ())?);
        Ok(())
    }
}
