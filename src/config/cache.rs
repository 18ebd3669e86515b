//! Settings of the in-memory caches on the request path.

use serde::{Deserialize, Serialize};

use super::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cache {
    /// How long a user's profile and roles may be served from memory. Writes through this
    /// instance refresh it at once; this bounds how long a change made elsewhere (another
    /// instance, or the command line) can go unseen. `0` turns the cache off.
    pub user_ttl: Duration,
}

impl Default for Cache {
    fn default() -> Self {
        Self {
            user_ttl: Duration::secs(1),
        }
    }
}
