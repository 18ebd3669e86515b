//! The OAuth 2.0 / OpenID Connect provider (contract section 6): discovery, the hosted
//! authorization pages, the token endpoint and its companions, and client administration.

mod authorize;
mod clients;
mod consents;
mod credentials;
mod pages;
mod token;

use axum::{
    Json,
    extract::State,
    response::Response,
    routing::{get, post},
};
use serde_json::json;

pub use authorize::{federation_failed, resume_federated};
pub use clients::{Api as ClientApi, routes as admin_routes};
pub use consents::{Api as ConsentApi, routes as consent_routes};

use super::{AppState, Mount};
use crate::http::openapi::schemas as doc;

pub fn routes(mount: &mut Mount, prefix: &str) {
    mount.route("", "/.well-known/openid-configuration", get(discovery));
    mount.route(prefix, "/authorize", get(authorize::authorize));
    mount.route(prefix, "/login", post(authorize::login));
    mount.route(prefix, "/mfa", post(authorize::second_factor));
    mount.route(prefix, "/consent", post(authorize::consent));
    mount.route(
        prefix,
        "/logout",
        get(authorize::logout).post(authorize::logout_form),
    );
    mount.route(prefix, "/hosted.css", get(pages::stylesheet));
    mount.route(prefix, "/token", post(token::token));
    mount.route(
        prefix,
        "/userinfo",
        get(token::userinfo).post(token::userinfo),
    );
    mount.route(prefix, "/introspect", post(token::introspect));
    mount.route(prefix, "/revoke", post(token::revoke));
}

/// The operations of this surface, relative to where it is mounted.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    discovery,
    authorize::authorize,
    authorize::login,
    authorize::second_factor,
    authorize::consent,
    authorize::logout,
    authorize::logout_form,
    pages::stylesheet,
    token::token,
    token::userinfo,
    token::introspect,
    token::revoke
))]
pub struct Api;

/// An absolute URL of a provider endpoint.
fn endpoint(app: &AppState, path: &str) -> String {
    let base = app.settings.server.public_url.trim_end_matches('/');
    format!("{base}{}{path}", app.settings.oidc.prefix)
}

#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    summary = "OpenID Provider metadata",
    responses(
        (status = 200, description = "The provider's endpoints and capabilities", body = doc::Discovery),
    )
)]
async fn discovery(State(app): State<AppState>) -> Response {
    let issuer = app.settings.issuer().to_owned();
    let base = issuer.trim_end_matches('/').to_owned();
    super::no_store(Json(json!({
        "issuer": issuer,
        "authorization_endpoint": endpoint(&app, "/authorize"),
        "token_endpoint": endpoint(&app, "/token"),
        "userinfo_endpoint": endpoint(&app, "/userinfo"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "introspection_endpoint": endpoint(&app, "/introspect"),
        "revocation_endpoint": endpoint(&app, "/revoke"),
        "end_session_endpoint": endpoint(&app, "/logout"),
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "EdDSA", "ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "azp", "at_hash", "sid",
            "name", "given_name", "family_name", "preferred_username", "email", "email_verified"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    })))
}
