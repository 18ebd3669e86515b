//! A user's remembered consents: listed and revocable under the native prefixes.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{delete, get},
};
use serde_json::json;

use crate::{
    core::rfc3339,
    http::{ApiError, AppState, Client, Mount, auth::Caller, no_store},
};

pub fn routes(mount: &mut Mount, prefix: &str) {
    mount.route(prefix, "/consents", get(list));
    mount.route(prefix, "/consents/{client_id}", delete(revoke));
}

async fn list(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let items: Vec<_> = app
        .consents(caller.user_id()?)
        .await?
        .into_iter()
        .map(|c| json!({"client_id": c.client_id, "scope": c.scope, "created_at": rfc3339(c.created_at)}))
        .collect();
    Ok(no_store(Json(items)))
}

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
