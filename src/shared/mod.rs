//! Optional Redis: revocation fan-out between instances and shared counters. Redis is never
//! required: while it is down every call reports failure quickly, callers fall back to
//! per-instance behaviour, and the link reconnects by itself when Redis returns.

use std::{sync::Arc, time::Duration};

use redis::{AsyncCommands, aio::ConnectionManager};
use tokio::sync::RwLock;

/// How long any Redis call may take before it counts as down.
const CALL_TIMEOUT: Duration = Duration::from_millis(250);

pub struct RedisLink {
    client: redis::Client,
    prefix: String,
    connection: RwLock<Option<ConnectionManager>>,
}

impl RedisLink {
    pub fn new(url: &str, prefix: &str) -> anyhow::Result<Arc<Self>> {
        let client = redis::Client::open(url)?;
        Ok(Arc::new(Self {
            client,
            prefix: prefix.to_owned(),
            connection: RwLock::new(None),
        }))
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// The connection, establishing it if there is none yet.
    async fn connection(&self) -> Option<ConnectionManager> {
        if let Some(c) = self.connection.read().await.clone() {
            return Some(c);
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1);
        let made = tokio::time::timeout(
            CALL_TIMEOUT * 2,
            ConnectionManager::new_with_config(self.client.clone(), config),
        )
        .await;
        match made {
            Ok(Ok(c)) => {
                *self.connection.write().await = Some(c.clone());
                Some(c)
            }
            _ => None,
        }
    }

    async fn run<T>(
        &self,
        f: impl AsyncFnOnce(&mut ConnectionManager) -> redis::RedisResult<T>,
    ) -> Option<T> {
        let mut c = self.connection().await?;
        match tokio::time::timeout(CALL_TIMEOUT, f(&mut c)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "redis call failed");
                None
            }
            Err(_) => None,
        }
    }

    pub async fn is_up(&self) -> bool {
        self.run(async |c| redis::cmd("PING").query_async::<String>(c).await)
            .await
            .is_some()
    }

    /// Adds one to a fixed-window counter and returns the new count; `None` when Redis is down.
    pub async fn count(&self, name: &str, window_secs: u64) -> Option<u64> {
        let key = self.key(name);
        self.run(async |c| {
            let (n,): (u64,) = redis::pipe()
                .atomic()
                .incr(&key, 1u64)
                .cmd("EXPIRE")
                .arg(&key)
                .arg(window_secs)
                .arg("NX")
                .ignore()
                .query_async(c)
                .await?;
            Ok(n)
        })
        .await
    }

    pub fn revocation_channel(&self) -> String {
        self.key("revocations")
    }

    pub async fn publish(&self, channel: &str, payload: &str) {
        let sent = self
            .run(async |c| c.publish::<_, _, i64>(channel, payload).await)
            .await;
        if sent.is_none() {
            tracing::debug!(channel, "redis publish skipped: redis unavailable");
        }
    }

    /// Subscribes to `channel`; the stream ends when the subscription breaks, so the
    /// caller can resubscribe.
    pub async fn follow(
        &self,
        channel: &str,
    ) -> anyhow::Result<impl futures_util::Stream<Item = String> + Send + use<>> {
        use futures_util::StreamExt;
        let mut pubsub =
            tokio::time::timeout(CALL_TIMEOUT * 4, self.client.get_async_pubsub()).await??;
        pubsub.subscribe(channel).await?;
        Ok(pubsub
            .into_on_message()
            .filter_map(|msg| async move { msg.get_payload::<String>().ok() }))
    }
}
