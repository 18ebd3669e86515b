use super::{Result, Store, on_db};

/// One line of the audit trail.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    pub at: i64,
    pub event: &'a str,
    pub user_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub ip: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub details: serde_json::Value,
}

impl Store {
    pub async fn record_audit(&self, e: &AuditEvent<'_>) -> Result<()> {
        let sql = "INSERT INTO audit_log (at, event, user_id, actor_id, ip, request_id, details) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let details = e.details.to_string();
        on_db!(self.db(), pool => sqlx::query(sql)
            .bind(e.at).bind(e.event).bind(e.user_id).bind(e.actor_id).bind(e.ip)
            .bind(e.request_id).bind(&details)
            .execute(pool).await.map(|_| ())?);
        Ok(())
    }
}
