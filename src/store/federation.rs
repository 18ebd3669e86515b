//! Upstream identities linked to local users, and started upstream logins.

use super::{Result, Store, on_db};

pub(super) const INSERT_IDENTITY: &str = "INSERT INTO federated_identities \
    (user_id, provider, subject, email, created_at, last_used) VALUES ($1, $2, $3, $4, $5, $5)";

pub struct NewIdentity<'a> {
    pub provider: &'a str,
    pub subject: &'a str,
    pub email: &'a str,
    /// The upstream vouches for the email; a user created from it starts verified.
    pub email_verified: bool,
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct IdentityRow {
    pub id: i64,
    #[serde(skip)]
    pub user_id: i64,
    pub provider: String,
    pub subject: String,
    pub email: String,
    pub created_at: i64,
    pub last_used: i64,
}

/// A started upstream login, as stored under the digest of its `state`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FederationLogin {
    pub provider: String,
    pub nonce: String,
    pub verifier: String,
    pub redirect: String,
    pub link_user_id: Option<i64>,
}

impl Store {
    pub async fn insert_federation_login(
        &self,
        state_hash: &str,
        login: &FederationLogin,
        expires_at: i64,
    ) -> Result<()> {
        let sql = "INSERT INTO federation_logins \
                   (state_hash, provider, nonce, verifier, redirect, link_user_id, expires_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
        on_db!(self.db(), pool => sqlx::query(sql).bind(state_hash).bind(&login.provider)
            .bind(&login.nonce).bind(&login.verifier).bind(&login.redirect)
            .bind(login.link_user_id).bind(expires_at).execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// Spends a live login by its state digest; of concurrent callbacks exactly one wins.
    pub async fn take_federation_login(
        &self,
        state_hash: &str,
        now: i64,
    ) -> Result<Option<FederationLogin>> {
        let sql = "UPDATE federation_logins SET used_at = $1 \
                   WHERE state_hash = $2 AND used_at IS NULL AND expires_at > $1 \
                   RETURNING provider, nonce, verifier, redirect, link_user_id";
        Ok(
            on_db!(self.db(), pool => sqlx::query_as(sql).bind(now).bind(state_hash)
            .fetch_optional(pool).await?),
        )
    }

    pub async fn prune_federation_logins(&self, before: i64) -> Result<()> {
        let sql = "DELETE FROM federation_logins WHERE expires_at < $1";
        on_db!(self.db(), pool => sqlx::query(sql).bind(before).execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// The local user of an upstream account, marking the identity as just used.
    pub async fn identity_owner(
        &self,
        provider: &str,
        subject: &str,
        now: i64,
    ) -> Result<Option<i64>> {
        let sql = "UPDATE federated_identities SET last_used = $1 \
                   WHERE provider = $2 AND subject = $3 RETURNING user_id";
        Ok(
            on_db!(self.db(), pool => sqlx::query_scalar(sql).bind(now).bind(provider)
            .bind(subject).fetch_optional(pool).await?),
        )
    }

    pub async fn link_identity(
        &self,
        user_id: i64,
        identity: &NewIdentity<'_>,
        now: i64,
    ) -> Result<()> {
        on_db!(self.db(), pool => sqlx::query(INSERT_IDENTITY).bind(user_id)
            .bind(identity.provider).bind(identity.subject).bind(identity.email).bind(now)
            .execute(pool).await.map(|_| ())?);
        Ok(())
    }

    pub async fn identities(&self, user_id: i64) -> Result<Vec<IdentityRow>> {
        let sql = "SELECT id, user_id, provider, subject, email, created_at, last_used \
                   FROM federated_identities WHERE user_id = $1 ORDER BY id";
        Ok(on_db!(self.db(), pool => sqlx::query_as(sql).bind(user_id)
            .fetch_all(pool).await?))
    }

    pub async fn unlink_identity(&self, user_id: i64, id: i64) -> Result<bool> {
        let sql = "DELETE FROM federated_identities WHERE id = $1 AND user_id = $2";
        let n = on_db!(self.db(), pool => sqlx::query(sql).bind(id).bind(user_id)
            .execute(pool).await?.rows_affected());
        Ok(n == 1)
    }
}
