//! HTTP adapters. Each surface parses, calls one core operation and renders.

mod account;
mod admin;
mod auth;
mod context;
mod cookies;
mod dialect;
mod docs;
mod envelope;
mod error;
mod federation;
mod html;
mod input;
mod limits;
mod metrics;
mod native;
mod oidc;
mod openapi;
mod ops;
mod passkeys;
mod principal;
mod signup;
mod simplejwt;
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

pub use dialect::Dialect;
pub use error::ApiError;
pub use metrics::listener_router as metrics_router;

use crate::core::{Core, RequestContext};
use openapi::{Routed, Surface};

pub struct Shared {
    core: Core,
    started: Instant,
    http: HttpState,
}

/// State only the HTTP layer needs.
pub struct HttpState {
    proxies: limits::TrustedProxies,
    counters: limits::LocalCounters,
    /// The OpenAPI document of the mounted routes: the routes are set once the router is
    /// built, the document is rendered on its first request.
    openapi: openapi::Document,
}

/// The state every handler gets: the core, behind one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(core: Core) -> Self {
        let http = HttpState {
            proxies: limits::TrustedProxies::parse(&core.settings.server.trusted_proxies),
            counters: limits::LocalCounters::default(),
            openapi: openapi::Document::default(),
        };
        Self(Arc::new(Shared {
            core,
            started: Instant::now(),
            http,
        }))
    }

    pub fn http(&self) -> &HttpState {
        &self.0.http
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
    /// full path → (surface, dialect)
    owners: HashMap<String, (String, Dialect)>,
    owner: String,
    dialect: Dialect,
    documented_by: Surface,
    /// Every registered route, for the OpenAPI document.
    routed: Vec<Routed>,
    /// (first surface, second surface, paths both claim), in discovery order
    conflicts: Vec<(String, String, Vec<String>)>,
}

impl Mount {
    fn new() -> Self {
        Self {
            router: Router::new(),
            owners: HashMap::new(),
            owner: String::new(),
            dialect: Dialect::Native,
            documented_by: Surface::Operations,
            routed: Vec::new(),
            conflicts: Vec::new(),
        }
    }

    /// Names the surface whose routes follow, for conflict messages, its dialect, and the
    /// annotated operations that document it.
    fn surface(&mut self, owner: String, dialect: Dialect, documented_by: Surface) {
        self.owner = owner;
        self.dialect = dialect;
        self.documented_by = documented_by;
    }

    fn route(&mut self, prefix: &str, path: &str, handler: MethodRouter<AppState>) {
        self.alias(prefix, path, path, handler);
    }

    /// Mounts `path` with the handler and documentation of `original` (a second spelling).
    fn alias(&mut self, prefix: &str, path: &str, original: &str, handler: MethodRouter<AppState>) {
        let full = format!("{prefix}{path}");
        if let Some((previous, _)) = self.owners.get(&full) {
            let pair = (previous.clone(), self.owner.clone());
            match self
                .conflicts
                .iter_mut()
                .find(|(a, b, _)| (a, b) == (&pair.0, &pair.1))
            {
                Some((_, _, paths)) => paths.push(full),
                None => self.conflicts.push((pair.0, pair.1, vec![full])),
            }
            return;
        }
        self.owners
            .insert(full.clone(), (self.owner.clone(), self.dialect));
        self.routed.push(Routed {
            full: full.clone(),
            documented_as: original.to_owned(),
            surface: self.documented_by,
            dialect: self.dialect,
        });
        self.router = std::mem::take(&mut self.router).route(&full, handler);
    }

    fn conflict_report(&self) -> Option<String> {
        if self.conflicts.is_empty() {
            return None;
        }
        let lines: Vec<String> = self
            .conflicts
            .iter()
            .map(|(a, b, paths)| format!("{a} and {b} both claim {}", paths.join(", ")))
            .collect();
        Some(format!(
            "conflicting API mounts: {}; move one of them to another prefix, or set its prefix to \"\" to turn it off",
            lines.join("; ")
        ))
    }

    /// Route template → dialect, for rendering failures in the route's own shape.
    fn dialects(&self) -> HashMap<String, Dialect> {
        self.owners
            .iter()
            .map(|(path, (_, dialect))| (path.clone(), *dialect))
            .collect()
    }
}

/// Builds the whole router; fails when two mounts claim the same path.
pub fn router(state: AppState) -> anyhow::Result<Router> {
    let settings = state.settings.clone();
    let mount = mount(&settings)?;
    // A second router on the same state (same settings) would document the same routes.
    state
        .http()
        .openapi
        .document(mount.routed.clone(), settings.cookies.secure);
    let dialects = Arc::new(mount.dialects());
    let mut router = mount
        .router
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "Method not allowed",
            )
        })
        // Innermost first: panics become 500s, then the per-client limit, CORS, and the
        // request context around everything so every answer carries its request id.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::internal().into_response()
        }))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limits::limit_requests,
        ));
    if let Some(cors) = cors_layer(&settings.cors.allowed_origins) {
        router = router.layer(cors);
    }
    let router = router
        .layer(middleware::from_fn_with_state(
            context::ContextState {
                app: state.clone(),
                dialects,
            },
            context::request_context,
        ))
        .with_state(state);
    Ok(router)
}

/// Every route of every surface the settings enable.
fn mount(settings: &crate::config::Settings) -> anyhow::Result<Mount> {
    let mut mount = Mount::new();
    mount.surface(
        "the operations endpoints".into(),
        Dialect::Native,
        Surface::Operations,
    );
    ops::routes(&mut mount, settings.testing.clock_control);
    metrics::routes(&mut mount, &settings.metrics);
    openapi::routes(&mut mount);
    docs::routes(&mut mount, &settings.docs);
    for prefix in settings
        .api
        .native
        .prefixes
        .iter()
        .filter(|p| !p.is_empty())
    {
        mount.surface(
            format!("the native API at `{prefix}` (api.native.prefixes)"),
            Dialect::Native,
            Surface::Native,
        );
        native::routes(&mut mount, prefix);
        account::routes(&mut mount, prefix);
        federation::routes(&mut mount, prefix);
        passkeys::routes(&mut mount, prefix);
        oidc::consent_routes(&mut mount, prefix);
    }
    let simplejwt = &settings.api.simplejwt;
    if !simplejwt.prefix.is_empty() {
        let name = format!(
            "the SimpleJWT dialect at `{}` (api.simplejwt.prefix)",
            simplejwt.prefix
        );
        mount.surface(name, Dialect::SimpleJwt, Surface::SimpleJwt);
        simplejwt::routes(&mut mount, simplejwt);
    }
    mount.surface("the admin API".into(), Dialect::Native, Surface::Admin);
    admin::routes(&mut mount, "/admin");
    oidc::admin_routes(&mut mount, "/admin");
    let provider = &settings.oidc.prefix;
    if !provider.is_empty() {
        mount.surface(
            format!("the OpenID Connect provider at `{provider}` (oidc.prefix)"),
            Dialect::Native,
            Surface::Oidc,
        );
        oidc::routes(&mut mount, provider);
    }
    let envelope = &settings.api.envelope.prefix;
    if !envelope.is_empty() {
        let name = format!("the envelope dialect at `{envelope}` (api.envelope.prefix)");
        mount.surface(name, Dialect::Envelope, Surface::Envelope);
        envelope::routes(&mut mount, envelope);
    }
    if let Some(report) = mount.conflict_report() {
        anyhow::bail!(report);
    }
    Ok(mount)
}

/// The full paths the settings mount, for checking the OpenAPI document against.
pub fn routed_paths(settings: &crate::config::Settings) -> anyhow::Result<Vec<String>> {
    let mut paths: Vec<String> = mount(settings)?
        .routed
        .into_iter()
        .map(|r| r.full)
        .collect();
    paths.sort();
    Ok(paths)
}

/// CORS for the configured origins only: exact matches, with credentials; no layer (so no
/// CORS headers for anyone) when none is configured.
fn cors_layer(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let headers = [
        "content-type",
        "authorization",
        "x-csrf-token",
        "x-auth-mode",
        "x-api-key",
        "x-request-id",
    ];
    let exposed = [
        "x-request-id",
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
    ];
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers(headers.map(HeaderName::from_static))
            .expose_headers(exposed.map(HeaderName::from_static))
            .max_age(std::time::Duration::from_secs(600)),
    )
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
        // The address the rate limiter resolved (trusted proxies considered), else the peer.
        let resolved = parts.extensions.get::<limits::ClientIp>().map(|c| c.0);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let ip = resolved.or(peer).map(|ip| ip.to_string());
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
