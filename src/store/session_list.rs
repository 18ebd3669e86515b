//! The live sessions of a user, as the user sees them.

use super::{Result, Store, on_db};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionSummary {
    pub id: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Store {
    pub async fn live_sessions(&self, user_id: i64, now: i64) -> Result<Vec<SessionSummary>> {
        let sql = "SELECT id, created_at, last_used_at, ip, user_agent FROM sessions \
                   WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
                   ORDER BY created_at DESC, id";
        Ok(
            on_db!(self.db(), pool => sqlx::query_as(sql).bind(user_id).bind(now).fetch_all(pool).await?),
        )
    }
}
