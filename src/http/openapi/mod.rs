//! `GET /openapi.json`: the OpenAPI 3.1 document of what this configuration mounts.
//!
//! Each surface describes its operations with `#[utoipa::path]` relative to where it is
//! mounted. The document is assembled from the routes the `Mount` actually registered, so a
//! moved prefix moves the documented paths and an unmounted dialect is absent. What every
//! route of a dialect shares is added here rather than repeated on each handler: the error
//! body of the route's dialect (failures are re-rendered per dialect by the router), and the
//! 429/503 answers of the limiter and the overload guard.

pub mod schemas;

use std::sync::OnceLock;

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use super::{AppState, Dialect, Mount, cookies};

/// The annotated operations a mounted surface is described by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Surface {
    Operations,
    Native,
    SimpleJwt,
    Envelope,
    Admin,
    Oidc,
}

impl Surface {
    /// The tag that groups the surface's operations.
    fn tag(self) -> &'static str {
        match self {
            Surface::Operations => "Operations",
            Surface::Native => "Native API",
            Surface::SimpleJwt => "SimpleJWT dialect",
            Surface::Envelope => "Envelope dialect",
            Surface::Admin => "Admin API",
            Surface::Oidc => "OAuth 2.0 / OpenID Connect provider",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Surface::Operations => "Health, keys, metrics, this document and its interactive page.",
            Surface::Native => {
                "Accounts, tokens, sessions, MFA, passkeys, API keys, federation and consents; mounted at every prefix in `api.native.prefixes`."
            }
            Surface::SimpleJwt => {
                "The answers of djangorestframework-simplejwt; every path also answers with a trailing slash."
            }
            Surface::Envelope => "`{success, message, data}` answers.",
            Surface::Admin => {
                "User, role, audit and client administration; needs the named permission."
            }
            Surface::Oidc => "Authorization code flow, token endpoint and companions.",
        }
    }

    /// The surface's operations, keyed by path relative to its prefix.
    fn operations(self) -> Vec<utoipa::openapi::OpenApi> {
        match self {
            Surface::Operations => vec![
                super::ops::Api::openapi(),
                super::metrics::Api::openapi(),
                super::docs::Api::openapi(),
                Api::openapi(),
            ],
            Surface::Native => vec![
                super::native::Api::openapi(),
                super::account::Api::openapi(),
                super::federation::Api::openapi(),
                super::passkeys::Api::openapi(),
                super::oidc::ConsentApi::openapi(),
            ],
            Surface::SimpleJwt => vec![super::simplejwt::Api::openapi()],
            Surface::Envelope => vec![super::envelope::Api::openapi()],
            Surface::Admin => vec![
                super::admin::Api::openapi(),
                super::oidc::ClientApi::openapi(),
            ],
            Surface::Oidc => vec![super::oidc::Api::openapi()],
        }
    }
}

/// One registered route: its full path and the operations that describe it.
#[derive(Clone)]
pub struct Routed {
    pub full: String,
    /// The path its surface documents it under, relative to the prefix (aliases such as a
    /// trailing-slash twin point at the original).
    pub documented_as: String,
    pub surface: Surface,
    pub dialect: Dialect,
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The error body of each dialect, by component name.
fn error_schema(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Native => "NativeError",
        Dialect::SimpleJwt => "SimpleJwtError",
        Dialect::Envelope => "EnvelopeError",
    }
}

/// Shapes and info every document carries, whatever is mounted.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Castellan",
        description = "Authentication server: accounts, JWT access tokens, rotating refresh tokens, sessions, and an OAuth 2.0 / OpenID Connect provider. This document describes the surfaces the running configuration mounts."
    ),
    components(schemas(
        schemas::NativeError,
        schemas::SimpleJwtError,
        schemas::EnvelopeError,
        schemas::OAuthErrorBody
    ))
)]
struct Base;

/// The document of a router's routes. Rendering it runs every operation's annotations, so
/// it waits for the first request instead of adding that to every start and to the idle
/// process's memory.
#[derive(Default)]
pub struct Document {
    routes: OnceLock<(Vec<Routed>, bool)>,
    rendered: OnceLock<String>,
}

impl Document {
    /// Records the routes to document (the first router's, when several are built).
    pub fn document(&self, routes: Vec<Routed>, secure_cookies: bool) {
        let _ = self.routes.set((routes, secure_cookies));
    }

    /// The rendered document; empty before any router was built.
    pub fn rendered(&self) -> &str {
        match self.routes.get() {
            Some((routes, secure_cookies)) => self
                .rendered
                .get_or_init(|| build(routes, *secure_cookies).to_string()),
            None => "",
        }
    }
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    summary = "This OpenAPI 3.1 document",
    responses((status = 200, description = "The document", body = Value))
)]
async fn document(State(app): State<AppState>) -> Response {
    let body = app.http().openapi.rendered().to_owned();
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[derive(OpenApi)]
#[openapi(paths(document))]
struct Api;

/// Mounts `/openapi.json` (the operations surface must be current).
pub fn routes(mount: &mut Mount) {
    mount.route("", "/openapi.json", axum::routing::get(document));
}

/// The document of the routes a `Mount` registered.
pub fn build(routes: &[Routed], secure_cookies: bool) -> Value {
    let mut doc = to_json(Base::openapi());
    let mut sources: Vec<(Surface, Value)> = Vec::new();
    let mut paths = Map::new();
    let mut tags: Vec<Surface> = Vec::new();
    let mut sorted: Vec<&Routed> = routes.iter().collect();
    sorted.sort_by(|a, b| a.full.cmp(&b.full));
    for route in sorted {
        if !sources.iter().any(|(s, _)| *s == route.surface) {
            sources.push((route.surface, merged(route.surface.operations())));
        }
        let (_, source) = sources
            .iter()
            .find(|(s, _)| *s == route.surface)
            .expect("just added");
        // An undocumented route is left out; the route-coverage test names it.
        let Some(item) = source["paths"].get(&route.documented_as) else {
            continue;
        };
        let mut item = item.clone();
        for (method, operation) in item.as_object_mut().into_iter().flatten() {
            if METHODS.contains(&method.as_str()) {
                decorate(operation, method, route);
            }
        }
        if !tags.contains(&route.surface) {
            tags.push(route.surface);
        }
        paths.insert(route.full.clone(), item);
    }
    for (_, source) in &sources {
        if let Some(found) = source
            .pointer("/components/schemas")
            .and_then(Value::as_object)
        {
            let schemas = doc["components"]["schemas"]
                .as_object_mut()
                .expect("the base document has schemas");
            for (name, schema) in found {
                schemas.insert(name.clone(), schema.clone());
            }
        }
    }
    doc["paths"] = Value::Object(paths);
    doc["tags"] = tags
        .iter()
        .map(|s| json!({"name": s.tag(), "description": s.description()}))
        .collect();
    doc["info"]["version"] = env!("CARGO_PKG_VERSION").into();
    doc["components"]["securitySchemes"] = security_schemes(secure_cookies);
    doc
}

fn to_json(doc: utoipa::openapi::OpenApi) -> Value {
    serde_json::to_value(doc).expect("an OpenAPI document serializes")
}

/// The surface's documents as one: paths with the same key (two handlers on one path)
/// have their operations joined.
fn merged(docs: Vec<utoipa::openapi::OpenApi>) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for doc in docs.into_iter().map(to_json) {
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            let slot = paths.entry(path.clone()).or_insert_with(|| json!({}));
            for (key, value) in item.as_object().into_iter().flatten() {
                slot[key] = value.clone();
            }
        }
        if let Some(found) = doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
        {
            schemas.extend(found.clone());
        }
    }
    json!({"paths": paths, "components": {"schemas": schemas}})
}

/// What the router adds to every operation of a route: its tag, an id unique across
/// prefixes, the dialect's error body, and the limiter's and body reader's refusals.
fn decorate(operation: &mut Value, method: &str, route: &Routed) {
    operation["tags"] = json!([route.surface.tag()]);
    operation["operationId"] = operation_id(method, &route.full).into();
    let error = json!({"application/json": {"schema": {
        "$ref": format!("#/components/schemas/{}", error_schema(route.dialect))
    }}});
    let has_body = operation.get("requestBody").is_some();
    let responses = operation["responses"]
        .as_object_mut()
        .expect("every operation has responses");
    let retry_after = json!({"Retry-After": {
        "description": "Seconds to wait before retrying",
        "schema": {"type": "integer"}
    }});
    let mut added = vec![
        ("429", "Too many requests (`RATE_LIMITED`)", true),
        (
            "503",
            "Overloaded or the database is unavailable (`SERVICE_UNAVAILABLE`)",
            true,
        ),
    ];
    if has_body {
        added.push(("400", "The body is malformed (`VALIDATION_ERROR`)", false));
        added.push((
            "413",
            "The body exceeds 64 KiB (`PAYLOAD_TOO_LARGE`)",
            false,
        ));
        added.push((
            "415",
            "The body's content type is not accepted (`UNSUPPORTED_MEDIA_TYPE`)",
            false,
        ));
    }
    for (status, description, retry) in added {
        let slot = responses
            .entry(status)
            .or_insert_with(|| json!({"description": description}));
        if retry {
            slot["headers"] = retry_after.clone();
        }
    }
    for (status, response) in responses.iter_mut() {
        let failure = status.starts_with('4') || status.starts_with('5');
        if failure && response.get("content").is_none() {
            response["content"] = error.clone();
        }
    }
}

/// `post_auth_v1_token_refresh` for `POST /auth/v1/token/refresh`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    let mut gap = true;
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            if gap {
                id.push('_');
            }
            id.push(c);
            gap = false;
        } else {
            gap = true;
        }
    }
    if path.ends_with('/') {
        id.push_str("_slash");
    }
    id
}

fn security_schemes(secure_cookies: bool) -> Value {
    let names = cookies::names_for(secure_cookies);
    json!({
        "bearer": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "An access token: `Authorization: Bearer <token>`."
        },
        "api_key": {
            "type": "apiKey", "in": "header", "name": "X-API-Key",
            "description": "An API key (`ck_<id>_<secret>`), limited to its scopes; never in a query string."
        },
        "cookie": {
            "type": "apiKey", "in": "cookie", "name": names.access,
            "description": "Browser cookie mode (`X-Auth-Mode: cookie` at login). State-changing requests must also send the CSRF header."
        },
        "csrf": {
            "type": "apiKey", "in": "header", "name": "X-CSRF-Token",
            "description": format!("The value of the readable `{}` cookie.", names.csrf)
        },
        "client_basic": {
            "type": "http", "scheme": "basic",
            "description": "OAuth client authentication (`client_secret_basic`); `client_secret_post` sends `client_id` and `client_secret` in the body instead."
        }
    })
}
