use super::{Result, Store, on_db};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub kid: String,
    pub algorithm: String,
    pub private_der: Vec<u8>,
    pub public_jwk: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

/// A named random value shared by every instance (e.g. the refresh-token derivation key).
pub struct ServerSecret;

impl Store {
    /// Keys that may still have live tokens: active ones and those retired after `since`.
    pub async fn signing_keys(&self, retired_since: i64) -> Result<Vec<KeyRow>> {
        let sql = "SELECT kid, algorithm, private_der, public_jwk, created_at, retired_at FROM signing_keys \
                   WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at, kid";
        Ok(
            on_db!(self.db(), pool => sqlx::query_as(sql).bind(retired_since).fetch_all(pool).await?),
        )
    }

    pub async fn insert_signing_key(&self, k: &KeyRow) -> Result<()> {
        let sql = "INSERT INTO signing_keys (kid, algorithm, private_der, public_jwk, created_at) \
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kid) DO NOTHING";
        on_db!(self.db(), pool => sqlx::query(sql)
            .bind(&k.kid).bind(&k.algorithm).bind(&k.private_der).bind(&k.public_jwk).bind(k.created_at)
            .execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// Retires every active key of `algorithm` except `keep`.
    pub async fn retire_signing_keys(&self, algorithm: &str, keep: &str, now: i64) -> Result<()> {
        let sql = "UPDATE signing_keys SET retired_at = $1 WHERE algorithm = $2 AND kid <> $3 AND retired_at IS NULL";
        on_db!(self.db(), pool => sqlx::query(sql).bind(now).bind(algorithm).bind(keep).execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// Returns the stored secret `name`, storing `candidate` first if there is none yet.
    /// Concurrent first starts agree on one value.
    pub async fn server_secret(&self, name: &str, candidate: &[u8], now: i64) -> Result<Vec<u8>> {
        let insert = "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
                      ON CONFLICT (name) DO NOTHING";
        let select = "SELECT value FROM server_secrets WHERE name = $1";
        Ok(on_db!(self.db(), pool => {
            sqlx::query(insert).bind(name).bind(candidate).bind(now).execute(pool).await?;
            sqlx::query_scalar(select).bind(name).fetch_one(pool).await?
        }))
    }
}
