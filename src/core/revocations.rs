//! The in-memory view of revoked sessions that every access-token check consults.
//! It holds only sessions whose access tokens could still be alive, so it stays small.
//! Local revocations enter it at once; other instances' arrive through `sync`.

use std::{
    collections::HashMap,
    sync::{
        RwLock,
        atomic::{AtomicI64, Ordering},
    },
};

use crate::store::Store;

/// How far back each sync looks, so a revocation committed late by a slow transaction
/// on another instance is still seen.
const OVERLAP_SECS: i64 = 30;

#[derive(Default)]
pub struct Revocations {
    /// session id → unix time after which no access token of it can be valid
    revoked: RwLock<HashMap<String, i64>>,
    last_sync: AtomicI64,
}

impl Revocations {
    pub fn is_revoked(&self, sid: &str) -> bool {
        self.revoked
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(sid)
    }

    pub fn insert(&self, sid: String, until: i64) {
        self.revoked
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sid, until);
    }

    /// Pulls revocations recorded since the last sync (with overlap) from the database.
    pub async fn sync(&self, store: &Store, now: i64) -> crate::store::Result<usize> {
        let since = self
            .last_sync
            .load(Ordering::Relaxed)
            .saturating_sub(OVERLAP_SECS);
        let rows = store.revocations_since(since, now).await?;
        let n = rows.len();
        if n > 0 {
            let mut map = self.revoked.write().unwrap_or_else(|p| p.into_inner());
            map.extend(rows);
        }
        self.last_sync.store(now, Ordering::Relaxed);
        Ok(n)
    }

    /// Drops entries whose tokens have all expired.
    pub fn prune(&self, now: i64) {
        self.revoked
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, until| *until > now);
    }

    pub fn len(&self) -> usize {
        self.revoked.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
