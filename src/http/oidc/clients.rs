//! Client administration under `/admin/clients` (permissions `clients:read`/`clients:write`).

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;

use crate::{
    core::NewClient,
    domain::FieldErrors,
    http::{
        ApiError, AppState, Client, Mount,
        input::{Fields, Text},
        no_store,
        principal::{Authorized, ClientsRead, ClientsWrite},
    },
};

pub fn routes(mount: &mut Mount, prefix: &str) {
    mount.route(prefix, "/clients", get(list).post(create));
    mount.route(prefix, "/clients/{id}", get(read).delete(remove));
    mount.route(prefix, "/clients/{id}/secret", post(rotate_secret));
    mount.route(prefix, "/keys/rotate", post(rotate_keys));
}

async fn list(
    State(app): State<AppState>,
    _: Authorized<ClientsRead>,
) -> Result<Response, ApiError> {
    Ok(no_store(Json(json!({"items": app.clients().await?}))))
}

async fn read(
    State(app): State<AppState>,
    _: Authorized<ClientsRead>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(no_store(Json(app.client(&id).await?)))
}

async fn create(
    State(app): State<AppState>,
    auth: Authorized<ClientsWrite>,
    Client(ctx): Client,
    body: Fields,
) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::default();
    let new = NewClient {
        client_id: body
            .required("client_id", Text::Trimmed, &mut errors)
            .unwrap_or_default(),
        redirect_uris: body
            .string_list("redirect_uris", &mut errors)
            .unwrap_or_default(),
        grant_types: body
            .string_list("grant_types", &mut errors)
            .unwrap_or_default(),
        scopes: body.string_list("scopes", &mut errors).unwrap_or_default(),
        public: body.boolean("public", &mut errors).unwrap_or(false),
        first_party: body.boolean("first_party", &mut errors).unwrap_or(false),
        id_token_alg: body.optional("id_token_signed_response_alg", Text::Trimmed, &mut errors),
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(&errors));
    }
    let (client, secret) = app.add_client(&auth.actor, new, &ctx).await?;
    let mut out = serde_json::to_value(&client).map_err(|_| ApiError::internal())?;
    if let Some(map) = out.as_object_mut() {
        map.insert("client_secret".into(), secret.into());
    }
    Ok(no_store((StatusCode::CREATED, Json(out))))
}

async fn remove(
    State(app): State<AppState>,
    auth: Authorized<ClientsWrite>,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.remove_client(&auth.actor, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn rotate_secret(
    State(app): State<AppState>,
    auth: Authorized<ClientsWrite>,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let secret = app.rotate_client_secret(&auth.actor, &id, &ctx).await?;
    Ok(no_store(Json(
        json!({"client_id": id, "client_secret": secret}),
    )))
}

/// Rotates the signing keys; old public keys stay published until their tokens expire.
async fn rotate_keys(
    State(app): State<AppState>,
    _: Authorized<ClientsWrite>,
) -> Result<Response, ApiError> {
    let kid = app
        .keys
        .rotate(&app.store, app.clock.now())
        .await
        .map_err(|e| ApiError::from(crate::core::CoreError::Internal(e)))?;
    Ok(no_store(Json(json!({"kid": kid}))))
}
