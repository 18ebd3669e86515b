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
    /// Counts one attempt under each of three keys in fixed windows of `window` seconds, in
    /// one statement (one commit): N concurrent attempts get the counts 1..N for every key.
    pub async fn count_attempts(
        &self,
        keys: [&str; 3],
        now: i64,
        window: i64,
    ) -> Result<[Counter; 3]> {
        let sql = "INSERT INTO throttle (key, window_start, count) VALUES ($1, $4, 1), ($2, $4, 1), ($3, $4, 1) \
                   ON CONFLICT (key) DO UPDATE SET \
                   count = CASE WHEN throttle.window_start <= $5 THEN 1 ELSE throttle.count + 1 END, \
                   window_start = CASE WHEN throttle.window_start <= $5 THEN $4 ELSE throttle.window_start END \
                   RETURNING key, window_start, count, locked_until, strikes";
        let rows: Vec<(String, i64, i64, i64, i64)> = on_db!(self.db(), pool => sqlx::query_as(sql)
            .bind(keys[0]).bind(keys[1]).bind(keys[2]).bind(now).bind(now - window)
            .fetch_all(pool).await?);
        // RETURNING order is not promised; match rows to keys by name.
        let counter = |key: &str| {
            rows.iter()
                .find(|r| r.0 == key)
                .map(|r| Counter {
                    window_start: r.1,
                    count: r.2,
                    locked_until: r.3,
                    strikes: r.4,
                })
                .unwrap_or(Counter {
                    window_start: now,
                    count: 1,
                    locked_until: 0,
                    strikes: 0,
                })
        };
        Ok(keys.map(counter))
    }

    /// A success: takes the attempt back from the source's and the account's budgets and
    /// forgets the pair's history, in one transaction. Rows are locked in the same order as
    /// `count_attempts` (source, pair, account) so concurrent logins cannot deadlock.
    pub async fn attempt_succeeded(&self, source: &str, pair: &str, account: &str) -> Result<()> {
        let uncount = "UPDATE throttle SET count = count - 1 WHERE key = $1 AND count > 0";
        let forget = "DELETE FROM throttle WHERE key = $1";
        on_db!(self.db(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(uncount).bind(source).execute(&mut *tx).await?;
            sqlx::query(forget).bind(pair).execute(&mut *tx).await?;
            sqlx::query(uncount).bind(account).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Locks `key` until `until`, starts a fresh window, and records one more strike.
    pub async fn lock(&self, key: &str, until: i64, now: i64) -> Result<()> {
        let sql = "UPDATE throttle SET locked_until = $2, strikes = strikes + 1, count = 0, window_start = $3 \
                   WHERE key = $1 AND locked_until < $2";
        on_db!(self.db(), pool => sqlx::query(sql).bind(key).bind(until).bind(now).execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// Forgets counters whose window and lock are both long past.
    pub async fn prune_throttle(&self, before: i64) -> Result<()> {
        let sql = "DELETE FROM throttle WHERE window_start < $1 AND locked_until < $1";
        on_db!(self.db(), pool => sqlx::query(sql).bind(before).execute(pool).await.map(|_| ())?);
        Ok(())
    }
}
