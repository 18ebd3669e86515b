//! "Sign in with …" under each native prefix: start, callback, the one-time code exchange,
//! and the caller's linked identities.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use serde_json::json;

use super::{
    AppState, Client, Mount,
    auth::Caller,
    error::ApiError,
    input::{Fields, FormOrJson},
    native::sign_in,
    no_store,
};
use crate::core::{CallbackOutcome, rfc3339};
use crate::http::openapi::schemas as doc;

pub fn routes(mount: &mut Mount, prefix: &str) {
    mount.route(prefix, "/federation/providers", get(providers));
    mount.route(prefix, "/federation/{provider}/start", get(start));
    mount.route(prefix, "/federation/{provider}/link", post(link));
    mount.route(prefix, "/federation/{provider}/callback", get(callback));
    mount.route(prefix, "/federation/exchange", post(exchange));
    mount.route(prefix, "/identities", get(identities));
    mount.route(prefix, "/identities/{id}", delete(unlink));
}

/// The operations of this surface, relative to where it is mounted.
#[derive(utoipa::OpenApi)]
#[openapi(paths(providers, start, link, callback, exchange, identities, unlink))]
pub struct Api;

#[utoipa::path(
    get,
    path = "/federation/providers",
    summary = "The upstream identity providers",
    responses(
        (status = 200, description = "The configured providers", body = Vec<doc::FederationProvider>),
    )
)]
async fn providers(State(app): State<AppState>) -> Response {
    let list: Vec<_> = app
        .federation_providers()
        .into_iter()
        .map(|(id, name)| json!({"id": id, "display_name": name}))
        .collect();
    Json(list).into_response()
}

fn see_other(location: &str) -> Result<Response, ApiError> {
    let mut response = no_store(StatusCode::FOUND);
    let value = location
        .parse()
        .map_err(|_| ApiError::bad_request("The redirect target is not a valid URL."))?;
    response.headers_mut().insert(header::LOCATION, value);
    Ok(response)
}

fn redirect_param(query: &HashMap<String, String>) -> Result<&str, ApiError> {
    query
        .get("redirect")
        .map(String::as_str)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::bad_request("The `redirect` parameter is required."))
}

/// `GET …/federation/{provider}/start?redirect=…`: off to the upstream's login page.
#[utoipa::path(
    get,
    path = "/federation/{provider}/start",
    summary = "Sign in through an upstream provider",
    params(("provider" = String, Path, description = "A provider id from `federation/providers`"), ("redirect" = String, Query, description = "Where to return afterwards; must be on `federation.redirect_allow_list`")),
    responses(
        (status = 302, description = "Off to the provider's login page"),
        (status = 400, description = "`redirect` is missing or not allowed"),
        (status = 404, description = "No such resource"),
    )
)]
async fn start(
    State(app): State<AppState>,
    Path(provider): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let url = app
        .federation_start(&provider, redirect_param(&query)?, None)
        .await?;
    see_other(&url)
}

/// `POST …/federation/{provider}/link` (signed in): the upstream URL that links an account
/// of that provider to the caller. The browser is sent there by the app.
#[utoipa::path(
    post,
    path = "/federation/{provider}/link",
    summary = "Link an upstream account to the signed-in user",
    params(("provider" = String, Path, description = "A provider id from `federation/providers`")),
    request_body = doc::LinkRequest,
    responses(
        (status = 200, description = "Send the browser to this URL", body = doc::AuthorizationUrl),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission, an API key on a session-only operation, or a failed CSRF check"),
        (status = 404, description = "No such resource"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []))
)]
async fn link(
    State(app): State<AppState>,
    caller: Caller,
    Path(provider): Path<String>,
    body: Fields,
) -> Result<Response, ApiError> {
    let mut errors = crate::domain::FieldErrors::default();
    let redirect = body
        .required("redirect", super::input::Text::Exact, &mut errors)
        .ok_or_else(|| ApiError::validation(&errors))?;
    let url = app
        .federation_start(&provider, &redirect, Some(caller.user_id()?))
        .await?;
    Ok(no_store(Json(json!({"authorization_url": url}))))
}

/// `GET …/federation/{provider}/callback`: back from the upstream.
#[utoipa::path(
    get,
    path = "/federation/{provider}/callback",
    summary = "Return from the upstream provider",
    params(("provider" = String, Path, description = "A provider id from `federation/providers`"), ("state" = Option<String>, Query, description = "The state sent upstream"), ("code" = Option<String>, Query, description = "The upstream's authorization code"), ("error" = Option<String>, Query, description = "The upstream's error")),
    responses(
        (status = 302, description = "Back to the allowed redirect target with a one-time `code`, or with `error`"),
        (status = 200, description = "A hosted page (for a sign-in started from the authorization page)", body = String, content_type = "text/html"),
        (status = 400, description = "Unknown or spent `state`, or the upstream refused"),
        (status = 404, description = "No such resource"),
        (status = 502, description = "The upstream is unreachable"),
    )
)]
async fn callback(
    State(app): State<AppState>,
    Path(provider): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    Client(ctx): Client,
) -> Result<Response, ApiError> {
    let get = |k: &str| query.get(k).map(String::as_str);
    let outcome = app
        .federation_callback(&provider, get("state"), get("code"), get("error"), &ctx)
        .await?;
    match outcome {
        CallbackOutcome::Redirect(url) => see_other(&url),
        CallbackOutcome::Hosted {
            user_id,
            trusted_mfa,
            resume,
        } => Ok(super::oidc::resume_federated(&app, user_id, trusted_mfa, &resume).await),
        CallbackOutcome::HostedFailed(failure) => {
            Ok(super::oidc::federation_failed(&app, &failure).await)
        }
        CallbackOutcome::Failed(failure) => Err(crate::core::CoreError::Upstream(failure).into()),
    }
}

/// `POST …/federation/exchange {"code"}`: the one-time code for a token pair (or the MFA
/// step, as for a password login).
#[utoipa::path(
    post,
    path = "/federation/exchange",
    summary = "Exchange the one-time code of a federated sign-in for tokens",
    request_body(content((doc::ExchangeRequest = "application/json"), (doc::ExchangeRequest = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "A token pair", body = doc::TokenPair),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "The code is invalid or spent, or a second factor is needed (`MFA_REQUIRED`)"),
        (status = 403, description = "A cookie-mode request from a foreign origin"),
    )
)]
async fn exchange(
    State(app): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Client(ctx): Client,
    FormOrJson(body): FormOrJson,
) -> Result<Response, ApiError> {
    sign_in(&app, &method, &headers, async {
        let code = body.token("code").map_err(|e| ApiError::validation(&e))?;
        Ok(app.federation_exchange(&code, &ctx).await?)
    })
    .await
}

#[utoipa::path(
    get,
    path = "/identities",
    summary = "The upstream identities linked to the signed-in user",
    responses(
        (status = 200, description = "Linked identities", body = Vec<doc::Identity>),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission, an API key on a session-only operation, or a failed CSRF check"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []))
)]
async fn identities(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let list: Vec<_> = app
        .identities(caller.user_id()?)
        .await?
        .into_iter()
        .map(|i| {
            json!({
                "id": i.id,
                "provider": i.provider,
                "subject": i.subject,
                "email": i.email,
                "created_at": rfc3339(i.created_at),
                "last_used": rfc3339(i.last_used),
            })
        })
        .collect();
    Ok(no_store(Json(list)))
}

#[utoipa::path(
    delete,
    path = "/identities/{id}",
    summary = "Unlink an upstream identity",
    params(("id" = String, Path, description = "The identifier from the listing")),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission, an API key on a session-only operation, or a failed CSRF check"),
        (status = 404, description = "No such resource"),
        (status = 409, description = "The last way to sign in (`LAST_SIGN_IN_METHOD`)"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []))
)]
async fn unlink(
    State(app): State<AppState>,
    caller: Caller,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
    app.unlink_identity(caller.user_id()?, id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
