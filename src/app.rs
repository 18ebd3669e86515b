//! Builds the state and router, binds, serves, and shuts down gracefully.

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use axum::serve::{Listener, ListenerExt};
use tokio::{net::TcpListener, sync::watch};

use crate::{
    config::{LogFormat, Settings, SqliteSynchronous},
    core::{Core, MailWorker},
    http::{self, AppState},
    shutdown::{self, CountingListener},
    store::{Event, PoolSettings, Store, parse_revocation},
};

pub fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CASTELLAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&settings.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (tests, repeated commands) is harmless; ignore it.
    let _ = match settings.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let pool = PoolSettings {
        max_connections: settings.database.max_connections,
        acquire_timeout: settings.database.acquire_timeout.0,
        sqlite_sync_every_commit: settings.database.sqlite_synchronous == SqliteSynchronous::Full,
    };
    Store::connect(&settings.database.url, &pool).await
}

pub async fn build_core(settings: Settings) -> anyhow::Result<Core> {
    let store = open_store(&settings).await?;
    Core::new(Arc::new(settings), store).await
}

pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let bind: SocketAddr = settings.server.bind.parse()?;
    let core = build_core(settings).await?;
    if core.settings.testing.clock_control {
        tracing::warn!(
            "testing.clock_control is on: the clock can be moved over HTTP; never do this in production"
        );
    }
    let mail = MailWorker::new(&core.settings)?;
    let state = AppState::new(core);
    let router = http::router(state.clone())?;
    let listener = CountingListener::new(TcpListener::bind(bind).await?);
    let open_connections = listener.open_connections();
    let local = listener.local_addr()?;
    tracing::info!(
        backend = state.store.backend(),
        "listening on http://{local}"
    );
    // `true` once the process is shutting down; the background tasks watch it.
    let (stopping, stop) = watch::channel(false);
    let upkeep = tokio::spawn(upkeep(state.clone()));
    let follower = tokio::spawn(follow_other_instances(state.clone()));
    let redis_follower = tokio::spawn(follow_redis(state.clone()));
    let mailer = tokio::spawn(mail.run(state.clone(), stop.clone()));
    let metrics = match (&state.settings.metrics.bind, state.settings.metrics.enabled) {
        (Some(addr), true) => {
            let listener = TcpListener::bind(addr.as_str()).await?;
            tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
            let router = http::metrics_router(state.clone());
            let stopped = wait_until_stopping(stop.clone());
            Some(tokio::spawn(async move {
                let served = axum::serve(listener, router).with_graceful_shutdown(stopped);
                if let Err(e) = served.await {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            }))
        }
        _ => None,
    };
    let grace = state.settings.server.shutdown_timeout;
    let on_signal = async move {
        shutdown::signal().await;
        tracing::info!(
            timeout = %grace,
            "shutting down: no new connections; finishing in-flight requests"
        );
        let _ = stopping.send(true);
    };
    // The no-op tap is what gives any listener axum's `ConnectInfo<SocketAddr>`.
    let server = axum::serve(
        listener.tap_io(|_| {}),
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(on_signal)
    .into_future();
    let mut server = std::pin::pin!(server);
    tokio::select! {
        served = &mut server => served?,
        () = wait_until_stopping(stop.clone()) => {
            // Requests already running get `server.shutdown_timeout`; then their connections
            // are dropped, so that one stuck client cannot hold the process forever.
            if tokio::time::timeout(grace.0, &mut server).await.is_err() {
                let open = open_connections.load(Ordering::Relaxed);
                tracing::warn!("shutdown timeout reached: cutting {open} open connection(s)");
            }
        }
    }
    // Then the flush, bounded by one more `server.shutdown_timeout`: the mail worker finishes
    // the batch it is sending and delivers what is due now (the outbox is in the database, so
    // anything left is sent after the next start), and the metrics listener lets a running
    // scrape finish.
    let flush = async {
        let _ = mailer.await;
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
    };
    if tokio::time::timeout(grace.0, flush).await.is_err() {
        tracing::warn!("shutdown flush timed out; undelivered mail stays in the outbox");
    }
    upkeep.abort();
    follower.abort();
    redis_follower.abort();
    state.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn wait_until_stopping(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// Every second: other instances' revocations. Every 5 s: signing keys. Every minute: pruning.
async fn upkeep(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        n += 1;
        state.sync_revocations().await;
        if n % 5 == 0 {
            state.reload_keys().await;
        }
        if n % 60 == 0 {
            state.prune().await;
            state.rotate_keys_if_due().await;
        }
    }
}

/// On PostgreSQL, applies other instances' revocations and key changes as they happen.
/// The once-a-second poll in `upkeep` remains the backstop for anything missed.
async fn follow_other_instances(state: AppState) {
    let mut listener = loop {
        match state.store.listen().await {
            Ok(Some(listener)) => break listener,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other instances yet");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    loop {
        match listener.next().await {
            Ok(event) => state.apply(event).await,
            Err(e) => {
                tracing::debug!(error = %e, "listener lost the database; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// With Redis configured, applies revocations other instances announce there; resubscribes
/// (and resynchronises from the database) whenever Redis comes back.
async fn follow_redis(state: AppState) {
    let Some(redis) = state.redis.clone() else {
        return;
    };
    let channel = redis.revocation_channel();
    loop {
        match redis.follow(&channel).await {
            Ok(messages) => {
                let mut messages = std::pin::pin!(messages);
                while let Some(payload) = futures_util::StreamExt::next(&mut messages).await {
                    state.apply(parse_revocation(&payload)).await;
                }
            }
            Err(e) => tracing::debug!(error = %e, "redis subscription unavailable"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        state.apply(Event::Resync).await;
    }
}
