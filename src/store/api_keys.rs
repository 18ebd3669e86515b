//! API keys: looked up by id on every use (so a revoked key stops at once on every
//! instance), compared by digest.

use super::{Result, Store, on_db};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub user_id: i64,
    pub name: String,
    pub secret_hash: String,
    /// Space-separated permissions.
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A key as its lookup sees it, with its owner's state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyLookup {
    #[sqlx(flatten)]
    pub key: ApiKeyRow,
    pub user_active: bool,
}

macro_rules! key_columns {
    () => {
        "k.id, k.user_id, k.name, k.secret_hash, k.scopes, k.created_at, k.expires_at, k.last_used_at"
    };
}

impl Store {
    pub async fn insert_api_key(&self, k: &ApiKeyRow) -> Result<()> {
        let sql = "INSERT INTO api_keys (id, user_id, name, secret_hash, scopes, created_at, expires_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
        on_db!(self.db(), pool => sqlx::query(sql).bind(&k.id).bind(k.user_id).bind(&k.name)
            .bind(&k.secret_hash).bind(&k.scopes).bind(k.created_at).bind(k.expires_at)
            .execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// A key that is not revoked (it may have expired: the caller checks).
    pub async fn find_api_key(&self, id: &str) -> Result<Option<ApiKeyLookup>> {
        let sql = concat!(
            "SELECT ",
            key_columns!(),
            ", u.is_active AS user_active FROM api_keys k JOIN users u ON u.id = k.user_id \
             WHERE k.id = $1 AND k.revoked_at IS NULL"
        );
        Ok(on_db!(self.db(), pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await?))
    }

    pub async fn list_api_keys(&self, user_id: i64) -> Result<Vec<ApiKeyRow>> {
        let sql = concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys k WHERE k.user_id = $1 AND k.revoked_at IS NULL ORDER BY k.created_at, k.id"
        );
        Ok(on_db!(self.db(), pool => sqlx::query_as(sql).bind(user_id).fetch_all(pool).await?))
    }

    /// Revokes one of the user's keys; false if there is no such live key.
    pub async fn revoke_api_key(&self, user_id: i64, id: &str, now: i64) -> Result<bool> {
        let sql = "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL";
        let n = on_db!(self.db(), pool => sqlx::query(sql).bind(now).bind(id).bind(user_id)
            .execute(pool).await?.rows_affected());
        Ok(n == 1)
    }

    /// Records a use; callers skip it when the stored time is recent, so this is rare.
    pub async fn touch_api_key(&self, id: &str, now: i64) -> Result<()> {
        let sql = "UPDATE api_keys SET last_used_at = $1 WHERE id = $2";
        on_db!(self.db(), pool => sqlx::query(sql).bind(now).bind(id).execute(pool).await.map(|_| ())?);
        Ok(())
    }
}
