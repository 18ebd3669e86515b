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
use crate::{core::OAuthClient, http::openapi::schemas as doc};

pub fn routes(mount: &mut Mount, prefix: &str) {
    mount.route(prefix, "/clients", get(list).post(create));
    mount.route(prefix, "/clients/{id}", get(read).delete(remove));
    mount.route(prefix, "/clients/{id}/secret", post(rotate_secret));
    mount.route(prefix, "/keys/rotate", post(rotate_keys));
}

/// The operations of this surface, relative to where it is mounted.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, read, create, remove, rotate_secret, rotate_keys))]
pub struct Api;

#[utoipa::path(
    get,
    path = "/clients",
    summary = "List OAuth clients (`clients:read`)",
    responses(
        (status = 200, description = "Clients", body = doc::ClientList),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission"),
    ),
    security(("bearer" = []), ("api_key" = []), ("cookie" = [], "csrf" = []))
)]
async fn list(
    State(app): State<AppState>,
    _: Authorized<ClientsRead>,
) -> Result<Response, ApiError> {
    Ok(no_store(Json(json!({"items": app.clients().await?}))))
}

#[utoipa::path(
    get,
    path = "/clients/{id}",
    summary = "Read an OAuth client (`clients:read`)",
    params(("id" = String, Path, description = "The client id")),
    responses(
        (status = 200, description = "The client", body = OAuthClient),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission"),
        (status = 404, description = "No such resource"),
    ),
    security(("bearer" = []), ("api_key" = []), ("cookie" = [], "csrf" = []))
)]
async fn read(
    State(app): State<AppState>,
    _: Authorized<ClientsRead>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(no_store(Json(app.client(&id).await?)))
}

#[utoipa::path(
    post,
    path = "/clients",
    summary = "Register an OAuth client (`clients:write`)",
    request_body = doc::ClientCreate,
    responses(
        (status = 201, description = "The client; the secret is shown only here", body = doc::ClientCreated),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission"),
        (status = 409, description = "The client id exists"),
    ),
    security(("bearer" = []), ("api_key" = []), ("cookie" = [], "csrf" = []))
)]
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

#[utoipa::path(
    delete,
    path = "/clients/{id}",
    summary = "Remove an OAuth client (`clients:write`)",
    params(("id" = String, Path, description = "The client id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission"),
        (status = 404, description = "No such resource"),
    ),
    security(("bearer" = []), ("api_key" = []), ("cookie" = [], "csrf" = []))
)]
async fn remove(
    State(app): State<AppState>,
    auth: Authorized<ClientsWrite>,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.remove_client(&auth.actor, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    post,
    path = "/clients/{id}/secret",
    summary = "Rotate a client secret (`clients:write`)",
    params(("id" = String, Path, description = "The client id")),
    responses(
        (status = 200, description = "The new secret, shown only here", body = doc::ClientSecret),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission"),
        (status = 404, description = "No such resource"),
        (status = 409, description = "A public client has no secret"),
    ),
    security(("bearer" = []), ("api_key" = []), ("cookie" = [], "csrf" = []))
)]
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
#[utoipa::path(
    post,
    path = "/keys/rotate",
    summary = "Rotate the signing keys (`clients:write`)",
    responses(
        (status = 200, description = "The new key id", body = doc::RotatedKey),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission"),
    ),
    security(("bearer" = []), ("api_key" = []), ("cookie" = [], "csrf" = []))
)]
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
