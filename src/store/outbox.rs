//! The durable mail outbox: jobs written by requests, claimed by one delivery worker at a
//! time (on any instance), deleted once delivered.

use super::{Result, Store, on_db};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: String,
    pub user_id: Option<i64>,
    pub address: Option<String>,
    /// The rendered mail (JSON), once its token has been issued.
    pub message: Option<String>,
    pub created_at: i64,
    pub attempts: i64,
}

impl Store {
    pub async fn enqueue_mail(
        &self,
        kind: &str,
        user_id: Option<i64>,
        address: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let sql = "INSERT INTO mail_outbox (kind, user_id, address, created_at, next_attempt_at) \
                   VALUES ($1, $2, $3, $4, $4)";
        on_db!(self.db(), pool => sqlx::query(sql).bind(kind).bind(user_id).bind(address).bind(now)
            .execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// Takes the oldest due job for `lease` seconds; concurrent workers never get the same one.
    pub async fn claim_mail(&self, now: i64, lease: i64) -> Result<Option<OutboxRow>> {
        let sql = "UPDATE mail_outbox SET locked_until = $1, attempts = attempts + 1 \
                   WHERE id = (SELECT id FROM mail_outbox WHERE next_attempt_at <= $2 \
                               AND (locked_until IS NULL OR locked_until <= $2) ORDER BY id LIMIT 1) \
                   AND (locked_until IS NULL OR locked_until <= $2) \
                   RETURNING id, kind, user_id, address, message, created_at, attempts";
        Ok(
            on_db!(self.db(), pool => sqlx::query_as(sql).bind(now + lease).bind(now)
            .fetch_optional(pool).await?),
        )
    }

    pub async fn set_mail_message(&self, id: i64, message: &str) -> Result<()> {
        let sql = "UPDATE mail_outbox SET message = $1 WHERE id = $2";
        on_db!(self.db(), pool => sqlx::query(sql).bind(message).bind(id).execute(pool).await.map(|_| ())?);
        Ok(())
    }

    pub async fn delete_mail(&self, id: i64) -> Result<()> {
        let sql = "DELETE FROM mail_outbox WHERE id = $1";
        on_db!(self.db(), pool => sqlx::query(sql).bind(id).execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// Releases a job after a failed attempt, to be tried again at `at`.
    pub async fn retry_mail_at(&self, id: i64, at: i64) -> Result<()> {
        let sql = "UPDATE mail_outbox SET next_attempt_at = $1, locked_until = NULL WHERE id = $2";
        on_db!(self.db(), pool => sqlx::query(sql).bind(at).bind(id).execute(pool).await.map(|_| ())?);
        Ok(())
    }
}
