//! Access tokens whose signature and registered claims were already verified, so that a
//! client using one token for an hour pays for the signature check once. Only what cannot
//! change is cached: expiry, and revocation of the session, are checked on every use.
//! Bounded: when full it starts over.

use std::{collections::HashMap, sync::RwLock};

use super::AccessClaims;

const CAPACITY: usize = 10_000;

#[derive(Default)]
pub struct VerifiedTokens {
    map: RwLock<HashMap<[u8; 32], AccessClaims>>,
}

impl VerifiedTokens {
    pub fn get(&self, fingerprint: &[u8; 32]) -> Option<AccessClaims> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(fingerprint)
            .cloned()
    }

    pub fn insert(&self, fingerprint: [u8; 32], claims: AccessClaims) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(fingerprint, claims);
    }

    /// Forgets tokens that have expired by `now`.
    pub fn prune(&self, now: i64) {
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, c| c.exp > now);
    }
}
