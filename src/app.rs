//! Builds the state and router, binds, serves, and shuts down gracefully.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::net::TcpListener;

use crate::{
    config::{LogFormat, Settings},
    core::{Core, MailWorker},
    http::{self, AppState},
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
    let listener = TcpListener::bind(bind).await?;
    let local = listener.local_addr()?;
    tracing::info!(
        backend = state.store.backend(),
        "listening on http://{local}"
    );
    let upkeep = tokio::spawn(upkeep(state.clone()));
    let follower = tokio::spawn(follow_other_instances(state.clone()));
    let redis_follower = tokio::spawn(follow_redis(state.clone()));
    let mailer = tokio::spawn(mail.run(state.clone()));
    let metrics = match (&state.settings.metrics.bind, state.settings.metrics.enabled) {
        (Some(addr), true) => {
            let listener = TcpListener::bind(addr.as_str()).await?;
            tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
            let router = http::metrics_router(state.clone());
            Some(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            }))
        }
        _ => None,
    };
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    upkeep.abort();
    follower.abort();
    redis_follower.abort();
    mailer.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    state.store.close().await;
    tracing::info!("stopped");
    Ok(())
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

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}
