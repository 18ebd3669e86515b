//! The audit trail: events with time, actor, subject, IP and request id; read by admins,
//! pruned after `audit.retention`.

use serde::Serialize;
use serde_json::Value;

use super::{Actor, Core, RequestContext, Result, rfc3339};
use crate::store::{AuditEvent, AuditFilter, AuditRow};

/// How long spent or expired single-use tokens are kept (for investigating).
const ONE_TIME_KEEP_SECS: i64 = 86400;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub event: String,
    pub user_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub details: Value,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            at: rfc3339(r.at),
            event: r.event,
            user_id: r.user_id,
            actor_id: r.actor_id,
            ip: r.ip,
            request_id: r.request_id,
            details: serde_json::from_str(&r.details).unwrap_or(Value::Null),
        }
    }
}

impl Core {
    /// Records an event done by `actor` to `subject`; failures are logged, never shown.
    pub async fn audit_by(
        &self,
        event: &str,
        actor: Option<&Actor>,
        subject: Option<i64>,
        ctx: &RequestContext,
        mut details: Value,
    ) {
        if let (Some(key), Some(map)) = (
            actor.and_then(|a| a.api_key.as_deref()),
            details.as_object_mut(),
        ) {
            map.insert("api_key".into(), Value::from(key));
        }
        let e = AuditEvent {
            at: self.clock.now(),
            event,
            user_id: subject,
            actor_id: actor.map(|a| a.user_id).filter(|id| *id > 0),
            ip: ctx.ip.as_deref(),
            request_id: ctx.request_id.as_deref(),
            details,
        };
        if let Err(err) = self.store.record_audit(&e).await {
            tracing::warn!(error = %err, event, "audit event not recorded");
        }
    }

    pub async fn audit_events(&self, filter: &AuditFilter<'_>) -> Result<Vec<AuditEntry>> {
        let rows = self.store.audit_events(filter).await?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }

    /// Deletes audit events past their retention, single-use tokens long expired and
    /// abandoned passkey ceremonies.
    pub(crate) async fn prune_accounts(&self, now: i64) {
        let retention = self.settings.audit.retention.as_secs();
        if retention > 0 {
            match self.store.prune_audit(now - retention).await {
                Ok(n) if n > 0 => {
                    tracing::info!(deleted = n, "audit events past retention deleted")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning the audit trail failed"),
            }
        }
        if let Err(e) = self.store.prune_one_time(now - ONE_TIME_KEEP_SECS).await {
            tracing::warn!(error = %e, "pruning single-use tokens failed");
        }
        if let Err(e) = self.store.prune_ceremonies(now).await {
            tracing::warn!(error = %e, "pruning passkey ceremonies failed");
        }
    }
}
