//! `GET /metrics`: the Prometheus scrape, on the main listener or a listener of its own.

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

use super::{AppState, Mount, error::ApiError};
use crate::{
    core::secrets,
    metrics::{Gauge, render},
};

/// Mounts `/metrics` on the main listener unless it is off or has a listener of its own.
pub fn routes(mount: &mut Mount, settings: &crate::config::Metrics) {
    if settings.enabled && settings.bind.is_none() {
        mount.route("", "/metrics", get(scrape));
    }
}

/// The operations of this surface, relative to where it is mounted.
#[derive(utoipa::OpenApi)]
#[openapi(paths(scrape))]
pub struct Api;

/// The router for `metrics.bind`: only `/metrics`.
pub fn listener_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { ApiError::not_found() })
        .with_state(state)
}

#[utoipa::path(
    get,
    path = "/metrics",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain"),
        (status = 401, description = "`metrics.token` is set and was not presented"),
    ),
    security((), ("bearer" = []))
)]
async fn scrape(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &app.settings.metrics.token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !secrets::same(presented.as_bytes(), token.as_bytes()) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "A valid metrics token is required",
            )
            .into_response();
        }
    }
    let (connections, idle) = app.store.pool_stats();
    let mut gauges = vec![
        Gauge::new(
            "castellan_password_hash_queue_depth",
            "Password hashes running or waiting now.",
            app.hasher.in_flight() as f64,
        ),
        Gauge::new(
            "castellan_db_pool_connections",
            "Open database connections.",
            f64::from(connections),
        ),
        Gauge::new(
            "castellan_db_pool_idle_connections",
            "Idle database connections.",
            idle as f64,
        ),
        Gauge::new(
            "castellan_db_pool_max_connections",
            "The database pool's limit (database.max_connections).",
            f64::from(app.settings.database.max_connections),
        ),
        Gauge::new(
            "castellan_uptime_seconds",
            "Seconds since the server started.",
            app.uptime_secs() as f64,
        ),
    ];
    gauges.extend(key_ages(&app));
    let mut response = render(&gauges).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// The age of every key in the JWKS, and of the key that signs access tokens now: a key
/// that keeps growing older tells that rotation is not happening.
fn key_ages(app: &AppState) -> Vec<Gauge> {
    let now = app.clock.now();
    let published = app.keys.published();
    let signer = app.keys.signer();
    let age = |created_at: i64| (now - created_at).max(0) as f64;
    let mut gauges: Vec<Gauge> = published
        .iter()
        .map(|k| {
            Gauge::labelled(
                "castellan_jwks_key_age_seconds",
                "Seconds since each key in the JWKS was generated.",
                &[("kid", &k.kid), ("alg", k.algorithm)],
                age(k.created_at),
            )
        })
        .collect();
    // HS256 signs with `tokens.secret`, which is not a generated key and has no age.
    if let Some(current) = published.iter().find(|k| k.kid == signer.kid) {
        gauges.push(Gauge::new(
            "castellan_signing_key_age_seconds",
            "Seconds since the key that signs access tokens now was generated.",
            age(current.created_at),
        ));
    }
    gauges
}
