//! Operations endpoints: health, JWKS, and the test-only clock.

use std::time::Duration;

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;

use super::{AppState, Mount, error::ApiError, input::Fields, no_store};
use crate::core::rfc3339;
use crate::http::openapi::schemas as doc;

pub fn routes(mount: &mut Mount, clock_control: bool) {
    mount.route("", "/health", get(health));
    mount.alias("", "/health/ready", "/health", get(health));
    mount.route("", "/health/live", get(live));
    mount.route("", "/.well-known/jwks.json", get(jwks));
    if clock_control {
        mount.route("", "/__test/clock", post(advance_clock));
    }
}

/// The operations of this surface, relative to where it is mounted.
#[derive(utoipa::OpenApi)]
#[openapi(paths(health, live, jwks, advance_clock))]
pub struct Api;

#[utoipa::path(
    get,
    path = "/health",
    summary = "Health with dependencies",
    responses(
        (status = 200, description = "Healthy", body = doc::Health),
        (status = 503, description = "The database is down", body = doc::Health),
    )
)]
async fn health(State(app): State<AppState>) -> Response {
    let db = tokio::time::timeout(Duration::from_secs(2), app.store.ping()).await;
    // Redis is optional: when it is down the service degrades to per-instance limits but
    // stays healthy, and says so.
    let redis = match &app.redis {
        None => "not_configured",
        Some(r) if r.is_up().await => "connected",
        Some(_) => "disconnected",
    };
    if matches!(db, Ok(Ok(()))) {
        let body = json!({
            "status": "healthy",
            "service": "castellan",
            "version": env!("CARGO_PKG_VERSION"),
            "uptime": app.uptime_secs().to_string(),
            "dependencies": {"database": "connected", "redis": redis},
        });
        no_store(Json(body))
    } else {
        let body = json!({
            "status": "unhealthy",
            "error": "Database connection failed",
            "timestamp": rfc3339(app.clock.now()),
        });
        let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

#[utoipa::path(
    get,
    path = "/health/live",
    summary = "Liveness: the process is up",
    responses(
        (status = 200, description = "Alive", body = doc::Liveness),
    )
)]
async fn live() -> Response {
    no_store(Json(json!({"status": "alive"})))
}

#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    summary = "The public signing keys (JWKS)",
    responses(
        (status = 200, description = "Every key that may still verify a live token", body = doc::Jwks),
    )
)]
async fn jwks(State(app): State<AppState>) -> Response {
    let body = app.keys.jwks();
    let mut response = (StatusCode::OK, body.as_str().to_owned()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

#[utoipa::path(
    post,
    path = "/__test/clock",
    summary = "Move the server clock forward (testing.clock_control only)",
    request_body = doc::ClockAdvance,
    responses(
        (status = 200, description = "The new time", body = doc::ClockNow),
        (status = 400, description = "`advance` is not a non-negative whole number"),
    )
)]
async fn advance_clock(State(app): State<AppState>, body: Fields) -> Result<Response, ApiError> {
    let secs = body
        .get("advance")
        .and_then(serde_json::Value::as_i64)
        .filter(|s| *s >= 0);
    let secs = secs.ok_or_else(|| {
        ApiError::bad_request("`advance` must be a non-negative whole number of seconds")
    })?;
    app.clock.advance(secs);
    // Time-driven clean-up (the audit trail's retention) runs as if the time had passed.
    app.prune_accounts(app.clock.now()).await;
    Ok(Json(json!({"now": app.clock.now()})).into_response())
}
