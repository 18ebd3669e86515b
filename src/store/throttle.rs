use super::{Result, Store, on_db};

/// A throttle counter after one more attempt was counted.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct Counter {
    pub window_start: i64,
    pub count: i64,
    pub locked_until: i64,
    pub strikes: i64,
}

impl Store {
    /// Counts one attempt under `key` in a fixed window of `window` seconds, atomically:
    /// N concurrent attempts get the counts 1..N.
    pub async fn count_attempt(&self, key: &str, now: i64, window: i64) -> Result<Counter> {
        let sql = "INSERT INTO throttle (key, window_start, count) VALUES ($1, $2, 1) \
                   ON CONFLICT (key) DO UPDATE SET \
                   count = CASE WHEN throttle.window_start <= $3 THEN 1 ELSE throttle.count + 1 END, \
                   window_start = CASE WHEN throttle.window_start <= $3 THEN $2 ELSE throttle.window_start END \
                   RETURNING window_start, count, locked_until, strikes";
        Ok(
            on_db!(self.db(), pool => sqlx::query_as(sql).bind(key).bind(now).bind(now - window)
            .fetch_one(pool).await?),
        )
    }

    /// Takes back one counted attempt (it turned out to be a success).
    pub async fn uncount_attempt(&self, key: &str) -> Result<()> {
        let sql = "UPDATE throttle SET count = count - 1 WHERE key = $1 AND count > 0";
        on_db!(self.db(), pool => sqlx::query(sql).bind(key).execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// Locks `key` until `until`, starts a fresh window, and records one more strike.
    pub async fn lock(&self, key: &str, until: i64, now: i64) -> Result<()> {
        let sql = "UPDATE throttle SET locked_until = $2, strikes = strikes + 1, count = 0, window_start = $3 \
                   WHERE key = $1 AND locked_until < $2";
        on_db!(self.db(), pool => sqlx::query(sql).bind(key).bind(until).bind(now).execute(pool).await.map(|_| ())?);
        Ok(())
    }

    pub async fn clear_throttle(&self, key: &str) -> Result<()> {
        on_db!(self.db(), pool => sqlx::query("DELETE FROM throttle WHERE key = $1").bind(key)
            .execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// Forgets counters whose window and lock are both long past.
    pub async fn prune_throttle(&self, before: i64) -> Result<()> {
        let sql = "DELETE FROM throttle WHERE window_start < $1 AND locked_until < $1";
        on_db!(self.db(), pool => sqlx::query(sql).bind(before).execute(pool).await.map(|_| ())?);
        Ok(())
    }
}
