//! Cross-instance fan-out on PostgreSQL: LISTEN/NOTIFY carries revocations and key changes
//! to every instance at once. SQLite has no other instances to tell (they share one host
//! and pick changes up by polling), so there these are no-ops.

use sqlx::postgres::PgListener;

use super::{Db, Store};

const REVOCATIONS: &str = "castellan_revocations";
const KEYS: &str = "castellan_keys";

/// Something another instance did that this one must know about.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// Sessions revoked: ids, and until when their access tokens could live.
    Revoked(Vec<String>, i64),
    /// Signing keys were added or retired.
    KeysChanged,
    /// The listener reconnected; anything may have been missed, so resynchronise.
    Resync,
}

impl Store {
    pub(super) async fn publish_revocations(&self, ids: &[String], until: i64) {
        if ids.is_empty() {
            return;
        }
        self.notify(REVOCATIONS, &revocation_payload(ids, until))
            .await;
    }

    pub async fn publish_keys_changed(&self) {
        self.notify(KEYS, "").await;
    }

    /// Best effort: the periodic sync is the backstop for a lost notification.
    async fn notify(&self, channel: &str, payload: &str) {
        if let Db::Postgres(pool) = self.db() {
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(pool)
                .await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, channel, "notification not sent");
            }
        }
    }

    /// A listener for other instances' events; `None` on SQLite.
    pub async fn listen(&self) -> anyhow::Result<Option<Listener>> {
        let Db::Postgres(pool) = self.db() else {
            return Ok(None);
        };
        let mut inner = PgListener::connect_with(pool).await?;
        inner.listen_all([REVOCATIONS, KEYS]).await?;
        Ok(Some(Listener { inner }))
    }
}

pub struct Listener {
    inner: PgListener,
}

impl Listener {
    /// Waits for the next event. After a lost connection it reports `Resync` and reconnects
    /// on the next call; while the database is down that call fails, so the caller backs off.
    pub async fn next(&mut self) -> anyhow::Result<Event> {
        Ok(match self.inner.try_recv().await? {
            Some(n) => parse(n.channel(), n.payload()),
            None => Event::Resync,
        })
    }
}

fn parse(channel: &str, payload: &str) -> Event {
    match channel {
        REVOCATIONS => parse_revocation(payload),
        KEYS => Event::KeysChanged,
        _ => Event::Resync,
    }
}

/// The wire form of a revocation announcement, shared by every fan-out channel.
pub fn revocation_payload(ids: &[String], until: i64) -> String {
    serde_json::json!({"ids": ids, "until": until}).to_string()
}

/// Reads an announcement; anything unreadable asks for a resync instead.
pub fn parse_revocation(payload: &str) -> Event {
    #[derive(serde::Deserialize)]
    struct Revoked {
        ids: Vec<String>,
        until: i64,
    }
    match serde_json::from_str::<Revoked>(payload) {
        Ok(r) => Event::Revoked(r.ids, r.until),
        Err(_) => Event::Resync,
    }
}
