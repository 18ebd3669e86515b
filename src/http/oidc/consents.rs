//! A user's remembered consents: listed and revocable under the native prefixes.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{delete, get},
};
use serde_json::json;

use crate::http::openapi::schemas as doc;
use crate::{
    core::rfc3339,
    http::{ApiError, AppState, Client, Mount, auth::Caller, no_store},
};

pub fn routes(mount: &mut Mount, prefix: &str) {
    mount.route(prefix, "/consents", get(list));
    mount.route(prefix, "/consents/{client_id}", delete(revoke));
}

/// The operations of this surface, relative to where it is mounted.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, revoke))]
pub struct Api;

#[utoipa::path(
    get,
    path = "/consents",
    summary = "The clients the signed-in user has consented to",
    responses(
        (status = 200, description = "Consents", body = Vec<doc::Consent>),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission, an API key on a session-only operation, or a failed CSRF check"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []))
)]
async fn list(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let items: Vec<_> = app
        .consents(caller.user_id()?)
        .await?
        .into_iter()
        .map(|c| json!({"client_id": c.client_id, "scope": c.scope, "created_at": rfc3339(c.created_at)}))
        .collect();
    Ok(no_store(Json(items)))
}

#[utoipa::path(
    delete,
    path = "/consents/{client_id}",
    summary = "Withdraw consent from a client",
    params(("client_id" = String, Path, description = "The client")),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission, an API key on a session-only operation, or a failed CSRF check"),
        (status = 404, description = "No such resource"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []))
)]
async fn revoke(
    State(app): State<AppState>,
    caller: Caller,
    Client(ctx): Client,
    Path(client_id): Path<String>,
) -> Result<Response, ApiError> {
    app.revoke_consent(caller.user_id()?, &client_id, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
