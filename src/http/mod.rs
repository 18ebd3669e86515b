//! HTTP adapters. Each surface parses, calls one core operation and renders.

mod account;
mod admin;
mod auth;
mod context;
mod error;
mod input;
mod native;
mod ops;
mod passkeys;
mod principal;
mod values;

use std::{collections::HashMap, net::SocketAddr, ops::Deref, sync::Arc, time::Instant};

use axum::{
    Router,
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderValue, StatusCode, header, request::Parts},
    middleware,
    response::{IntoResponse, Response},
    routing::MethodRouter,
};

pub use error::ApiError;

use crate::core::{Core, RequestContext};

pub struct Shared {
    core: Core,
    started: Instant,
}

/// The state every handler gets: the core, behind one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(core: Core) -> Self {
        Self(Arc::new(Shared {
            core,
            started: Instant::now(),
        }))
    }

    pub fn uptime_secs(&self) -> u64 {
        self.0.started.elapsed().as_secs()
    }
}

impl Deref for AppState {
    type Target = Core;

    fn deref(&self) -> &Core {
        &self.0.core
    }
}

/// Collects routes from every mounted surface and refuses two surfaces claiming one path.
pub struct Mount {
    router: Router<AppState>,
    owners: HashMap<String, String>,
    owner: String,
    conflicts: Vec<String>,
}

impl Mount {
    fn new() -> Self {
        Self {
            router: Router::new(),
            owners: HashMap::new(),
            owner: String::new(),
            conflicts: Vec::new(),
        }
    }

    /// Names the surface whose routes follow, for conflict messages.
    fn surface(&mut self, owner: String) {
        self.owner = owner;
    }

    fn route(&mut self, prefix: &str, path: &str, handler: MethodRouter<AppState>) {
        let full = format!("{prefix}{path}");
        if let Some(previous) = self.owners.get(&full) {
            self.conflicts.push(format!(
                "{full} is claimed by both {previous} and {}",
                self.owner
            ));
            return;
        }
        self.owners.insert(full.clone(), self.owner.clone());
        self.router = std::mem::take(&mut self.router).route(&full, handler);
    }
}

/// Builds the whole router; fails when two mounts claim the same path.
pub fn router(state: AppState) -> anyhow::Result<Router> {
    let settings = state.settings.clone();
    let mut mount = Mount::new();
    mount.surface("operations endpoints".into());
    ops::routes(&mut mount, settings.testing.clock_control);
    for prefix in settings
        .api
        .native
        .prefixes
        .iter()
        .filter(|p| !p.is_empty())
    {
        mount.surface(format!("the native API at `{prefix}`"));
        native::routes(&mut mount, prefix);
        account::routes(&mut mount, prefix);
        passkeys::routes(&mut mount, prefix);
    }
    mount.surface("the admin API".into());
    admin::routes(&mut mount, "/admin");
    if !mount.conflicts.is_empty() {
        anyhow::bail!("conflicting API mounts: {}", mount.conflicts.join("; "));
    }
    let router = mount
        .router
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "Method not allowed",
            )
        })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            context::request_context,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::internal().into_response()
        }))
        .with_state(state);
    Ok(router)
}

/// Marks a response that carries credentials as never cacheable.
pub fn no_store(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Who is calling: peer address, user agent and request id, for sessions and audit.
pub struct Client(pub RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Client(RequestContext {
            ip,
            user_agent,
            request_id: Some(context::current_request_id()),
        }))
    }
}
