//! Reading and pruning the audit trail.

use super::{Result, Store, on_db};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub event: String,
    pub user_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub details: String,
}

/// Which events to read: newest first, optionally of one user or one event name, and
/// older than `before_id` for paging.
#[derive(Debug, Default)]
pub struct AuditFilter<'a> {
    pub user_id: Option<i64>,
    pub event: Option<&'a str>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl Store {
    pub async fn audit_events(&self, f: &AuditFilter<'_>) -> Result<Vec<AuditRow>> {
        let sql = "SELECT id, at, event, user_id, actor_id, ip, request_id, details FROM audit_log \
                   WHERE ($1 IS NULL OR user_id = $1 OR actor_id = $1) AND ($2 IS NULL OR event = $2) \
                   AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4";
        Ok(
            on_db!(self.db(), pool => sqlx::query_as(sql).bind(f.user_id).bind(f.event)
            .bind(f.before_id).bind(f.limit).fetch_all(pool).await?),
        )
    }

    pub async fn prune_audit(&self, before: i64) -> Result<u64> {
        let sql = "DELETE FROM audit_log WHERE at < $1";
        Ok(
            on_db!(self.db(), pool => sqlx::query(sql).bind(before).execute(pool).await?.rows_affected()),
        )
    }
}
