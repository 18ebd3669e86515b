//! Where login-throttle counters live: in the database when instances share one
//! (PostgreSQL), or in this process (SQLite, where the throttle is per instance and a
//! commit per attempt would make refusing a flood as slow as serving it). Both give the
//! same answers, atomically, so parallel bursts are counted exactly either way.

use std::{collections::HashMap, sync::Mutex};

use crate::store::{Counter, Store, StoreError};

pub enum ThrottleCounters {
    Shared(Store),
    Local(Mutex<HashMap<String, Counter>>),
}

type Result<T> = std::result::Result<T, StoreError>;

impl ThrottleCounters {
    pub fn for_store(store: &Store) -> Self {
        match store.backend() {
            "postgres" => Self::Shared(store.clone()),
            _ => Self::Local(Mutex::default()),
        }
    }

    fn local(
        map: &Mutex<HashMap<String, Counter>>,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Counter>> {
        map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one attempt under each key, in fixed windows of `window` seconds.
    pub async fn count(&self, keys: [&str; 3], now: i64, window: i64) -> Result<[Counter; 3]> {
        match self {
            Self::Shared(store) => store.count_attempts(keys, now, window).await,
            Self::Local(map) => {
                let mut map = Self::local(map);
                Ok(keys.map(|key| {
                    let c = map.entry(key.to_owned()).or_insert(Counter {
                        window_start: now,
                        count: 0,
                        locked_until: 0,
                        strikes: 0,
                    });
                    if c.window_start <= now - window {
                        c.window_start = now;
                        c.count = 0;
                    }
                    c.count += 1;
                    *c
                }))
            }
        }
    }

    /// Locks `key` until `until`, starting a fresh window and recording a strike.
    pub async fn lock(&self, key: &str, until: i64, now: i64) -> Result<()> {
        match self {
            Self::Shared(store) => store.lock(key, until, now).await,
            Self::Local(map) => {
                if let Some(c) = Self::local(map)
                    .get_mut(key)
                    .filter(|c| c.locked_until < until)
                {
                    *c = Counter {
                        window_start: now,
                        count: 0,
                        locked_until: until,
                        strikes: c.strikes + 1,
                    };
                }
                Ok(())
            }
        }
    }

    /// A success: takes the attempt back from `source` and `account`, forgets `pair`.
    pub async fn succeeded(&self, source: &str, pair: &str, account: &str) -> Result<()> {
        match self {
            Self::Shared(store) => store.attempt_succeeded(source, pair, account).await,
            Self::Local(map) => {
                let mut map = Self::local(map);
                map.remove(pair);
                for key in [source, account] {
                    if let Some(c) = map.get_mut(key).filter(|c| c.count > 0) {
                        c.count -= 1;
                    }
                }
                Ok(())
            }
        }
    }

    /// Forgets counters whose window and lock both ended before `before`.
    pub async fn prune(&self, before: i64) -> Result<()> {
        match self {
            Self::Shared(store) => store.prune_throttle(before).await,
            Self::Local(map) => {
                Self::local(map)
                    .retain(|_, c| c.window_start >= before || c.locked_until >= before);
                Ok(())
            }
        }
    }
}
