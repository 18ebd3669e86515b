//! Settings of the interactive API documentation.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Docs {
    /// Serves `GET /docs` and its assets.
    pub enabled: bool,
}

impl Default for Docs {
    fn default() -> Self {
        Self { enabled: true }
    }
}
