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

pub fn routes(mount: &mut Mount, prefix: &str) {
    mount.route(prefix, "/federation/providers", get(providers));
    mount.route(prefix, "/federation/{provider}/start", get(start));
    mount.route(prefix, "/federation/{provider}/link", post(link));
    mount.route(prefix, "/federation/{provider}/callback", get(callback));
    mount.route(prefix, "/federation/exchange", post(exchange));
    mount.route(prefix, "/identities", get(identities));
    mount.route(prefix, "/identities/{id}", delete(unlink));
}

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
