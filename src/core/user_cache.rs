//! Users as the API shows them, kept in memory so that `/auth/me` and a refresh do not read
//! the user and its roles from the database on every request. An entry serves only while
//! the store's users generation is the one it was read under (any write to any user through
//! this instance moves it, so local changes show at once) and for at most `cache.user_ttl`
//! (which bounds how long a change made by another instance or the command line goes
//! unseen). Revocation never depends on this cache: sessions are checked on every request.
//! Bounded: when full it starts over.

use std::{
    collections::HashMap,
    sync::RwLock,
    time::{Duration, Instant},
};

use crate::domain::User;

const CAPACITY: usize = 10_000;

struct Entry {
    generation: u64,
    read_at: Instant,
    user: User,
}

pub struct UserCache {
    ttl: Duration,
    map: RwLock<HashMap<i64, Entry>>,
}

impl UserCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            map: RwLock::default(),
        }
    }

    /// The user, if it was read under `generation` less than the TTL ago.
    pub fn get(&self, id: i64, generation: u64) -> Option<User> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        let entry = map.get(&id)?;
        (entry.generation == generation && entry.read_at.elapsed() < self.ttl)
            .then(|| entry.user.clone())
    }

    /// Remembers a user read from the database under `generation` (read before the user).
    pub fn insert(&self, generation: u64, user: &User) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CAPACITY {
            map.clear();
        }
        let entry = Entry {
            generation,
            read_at: Instant::now(),
            user: user.clone(),
        };
        map.insert(user.id, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64, name: &str) -> User {
        User {
            id,
            username: name.into(),
            email: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            is_active: true,
            is_superuser: false,
            email_verified: false,
            roles: vec![],
            mfa_enabled: false,
            created_at: String::new(),
        }
    }

    #[test]
    fn serves_only_the_generation_it_was_read_under() {
        let cache = UserCache::new(Duration::from_secs(60));
        cache.insert(7, &user(1, "amy"));
        assert_eq!(cache.get(1, 7).map(|u| u.username), Some("amy".into()));
        assert!(cache.get(1, 8).is_none(), "a write moved the generation");
        assert!(cache.get(2, 7).is_none());
    }

    #[test]
    fn expires_after_the_ttl_and_is_off_at_zero() {
        let cache = UserCache::new(Duration::from_millis(20));
        cache.insert(1, &user(1, "amy"));
        assert!(cache.get(1, 1).is_some());
        std::thread::sleep(Duration::from_millis(30));
        assert!(cache.get(1, 1).is_none());
        let off = UserCache::new(Duration::ZERO);
        off.insert(1, &user(1, "amy"));
        assert!(off.get(1, 1).is_none());
    }
}
