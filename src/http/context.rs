//! Per-request context: request id, security headers, timeout, one access-log line.

use std::{collections::HashMap, sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderValue, header},
    middleware::Next,
    response::Response,
};

use super::{AppState, Dialect, error::ApiError};
use crate::core::secrets;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served (empty outside a request).
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

fn sane(id: &HeaderValue) -> Option<String> {
    let s = id.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| s.to_owned())
}

/// What the per-request middleware needs: the settings, and which dialect each route speaks.
#[derive(Clone)]
pub struct ContextState {
    pub app: AppState,
    pub dialects: Arc<HashMap<String, Dialect>>,
}

pub async fn request_context(
    State(state): State<ContextState>,
    req: Request,
    next: Next,
) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(sane)
        .unwrap_or_else(|| secrets::random_token(12));
    let started = Instant::now();
    let method = req.method().clone();
    // The route template, never the raw path: query strings and path values may hold secrets.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "-".into());
    let dialect = state
        .dialects
        .get(&route)
        .copied()
        .unwrap_or(Dialect::Native);
    let limit = state.app.settings.server.request_timeout.0;
    // At debug level only: with the completion line below it shows what was still running
    // when a process stopped or hung.
    tracing::debug!(request_id = %id, method = %method, route = %route, "request started");
    let run = REQUEST_ID.scope(id.clone(), {
        let method = method.clone();
        async move {
            match tokio::time::timeout(limit, next.run(req)).await {
                Ok(response) => dialect.rerender(response, &method),
                Err(_) => dialect.respond(&ApiError::unavailable(1), &method),
            }
        }
    });
    let mut response = run.await;
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert("x-request-id", v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // API answers load nothing; HTML pages set a policy of their own.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    let hsts = state.app.settings.server.hsts_max_age.as_secs();
    if hsts > 0
        && let Ok(v) = HeaderValue::from_str(&format!("max-age={hsts}; includeSubDomains"))
    {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, v);
    }
    let status = response.status();
    let latency = started.elapsed();
    crate::metrics::count(
        "castellan_http_requests_total",
        &[
            ("route", &route),
            ("method", method.as_str()),
            ("status", status.as_str()),
        ],
    );
    crate::metrics::observe(
        "castellan_http_request_duration_seconds",
        &[("route", &route)],
        latency,
    );
    if status == axum::http::StatusCode::TOO_MANY_REQUESTS {
        crate::metrics::count("castellan_throttled_requests_total", &[("route", &route)]);
    }
    tracing::info!(
        request_id = %id,
        method = %method,
        route = %route,
        status = status.as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request"
    );
    response
}
