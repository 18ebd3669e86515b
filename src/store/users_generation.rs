//! A counter that moves after every write to a user or its roles, so that a cached view of
//! a user can tell it may be stale. Every store method that writes `users` or `user_roles`
//! starts with `let _changed = self.changing_users();`: the guard bumps the counter when the
//! method returns, after its commit, on every path (errors included).

use std::sync::atomic::{AtomicU64, Ordering};

use super::Store;

/// Bumps the users generation when dropped.
pub struct UsersChange<'a>(&'a AtomicU64);

impl Drop for UsersChange<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

impl Store {
    /// The current users generation: read it before reading a user, and a cached view made
    /// from that read is current for as long as the generation has not moved.
    pub fn users_generation(&self) -> u64 {
        self.users_generation.load(Ordering::Acquire)
    }

    pub(super) fn changing_users(&self) -> UsersChange<'_> {
        UsersChange(&self.users_generation)
    }
}
