//! A user's own view of their sessions (devices), and ending one of them.

use serde::Serialize;
use serde_json::json;

use super::{Core, CoreError, RequestContext, Result, rfc3339};
use crate::store::Revoke;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub id: String,
    pub created_at: String,
    pub last_used_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub current: bool,
}

impl Core {
    /// The user's live sessions, newest first; `current` marks the caller's own.
    pub async fn sessions_of(
        &self,
        user_id: i64,
        current: Option<&str>,
    ) -> Result<Vec<SessionView>> {
        let rows = self.store.live_sessions(user_id, self.clock.now()).await?;
        Ok(rows
            .into_iter()
            .map(|s| SessionView {
                current: current == Some(s.id.as_str()),
                created_at: rfc3339(s.created_at),
                last_used_at: rfc3339(s.last_used_at),
                id: s.id,
                ip: s.ip,
                user_agent: s.user_agent,
            })
            .collect())
    }

    /// Ends one of the user's live sessions; anyone else's (or a dead one) is `NotFound`.
    pub async fn end_session(
        &self,
        user_id: i64,
        session_id: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let now = self.clock.now();
        let live = self
            .store
            .find_session(session_id)
            .await?
            .filter(|s| s.user_id == user_id && s.revoked_at.is_none() && s.expires_at > now);
        if live.is_none() {
            return Err(CoreError::NotFound);
        }
        self.revoke_sessions(Revoke::One(session_id), "session_ended")
            .await?;
        self.audit(
            "session.ended",
            Some(user_id),
            ctx,
            json!({"session_id": session_id}),
        )
        .await;
        Ok(())
    }
}
