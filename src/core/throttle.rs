//! Login throttling per account, per account and source, and per source. Every attempt is
//! counted atomically in the database *before* any hashing, so parallel bursts are counted
//! exactly and refused attempts cost no hash. Counters live in the database, so every
//! instance sees the same ones.

use super::{Core, CoreError, Result};

/// What the throttle says about one login attempt.
pub enum Gate {
    /// Go ahead and check the password; report the outcome back.
    Open(Attempt),
    /// This account is locked for this source, or over its hourly failure budget.
    Locked,
    /// This source has failed too often; it may try again after `retry_after` seconds.
    SourceBlocked { retry_after: u64 },
}

/// The counters one admitted attempt touched.
pub struct Attempt {
    account: String,
    pair: String,
    source: String,
    pair_count: i64,
    strikes: i64,
}

const HOUR: i64 = 3600;

impl Core {
    pub(crate) async fn admit_login(&self, account: &str, ip: Option<&str>) -> Result<Gate> {
        let limits = &self.settings.limits;
        let now = self.clock.now();
        let ip = ip.unwrap_or("unknown");
        let source = format!("login:src:{ip}");
        let pair = format!("login:pair:{account}|{ip}");
        let account = format!("login:acct:{account}");
        let [by_source, by_pair, by_account] = self
            .throttle
            .count([&source, &pair, &account], now, HOUR)
            .await?;
        if by_source.count > limits.source_failures_per_hour as i64 {
            let retry_after = (by_source.window_start + HOUR - now).max(1) as u64;
            return Ok(Gate::SourceBlocked { retry_after });
        }
        let locked = by_pair.locked_until > now
            || by_pair.count > limits.account_source_failures as i64
            || by_account.count > limits.account_failures_per_hour as i64;
        if locked {
            return Ok(Gate::Locked);
        }
        Ok(Gate::Open(Attempt {
            account,
            pair,
            source,
            pair_count: by_pair.count,
            strikes: by_pair.strikes,
        }))
    }

    /// A wrong password: at the threshold, lock this account for this source, each lock
    /// twice as long as the one before, never longer than `limits.lock_max`.
    pub(crate) async fn login_failed(&self, a: &Attempt) -> Result<()> {
        let limits = &self.settings.limits;
        if a.pair_count >= limits.account_source_failures as i64 {
            let factor = 1i64 << a.strikes.clamp(0, 20);
            let lock =
                (limits.lock_base.as_secs().saturating_mul(factor)).min(limits.lock_max.as_secs());
            let now = self.clock.now();
            self.throttle.lock(&a.pair, now + lock, now).await?;
        }
        Ok(())
    }

    /// A success is not a failure: take it back from the budgets and forget the pair's history.
    pub(crate) async fn login_succeeded(&self, a: &Attempt) -> Result<()> {
        Ok(self
            .throttle
            .succeeded(&a.source, &a.pair, &a.account)
            .await?)
    }

    /// Refuses like a wrong password would, after about as long, without the hashing work.
    pub(crate) async fn refuse_like_a_wrong_password(&self) -> CoreError {
        tokio::time::sleep(self.hasher.typical_verify_time()).await;
        CoreError::InvalidCredentials
    }
}
