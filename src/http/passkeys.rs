//! Passkey (WebAuthn) ceremonies under `/auth/webauthn/…`: each has a `start` that answers
//! `{ceremony_id, options}` (pass `options` to `navigator.credentials.create/get`) and a
//! `finish` that takes `{ceremony_id, credential}` (the browser's answer as JSON).

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use serde::Serialize;
use serde_json::{Value, json};

use super::{
    AppState, Client, Mount,
    auth::Caller,
    error::ApiError,
    input::{Fields, Text},
    native::token_pair,
    no_store,
};
use crate::{core::Ceremony, domain::FieldErrors};
use crate::{core::PasskeyView, http::openapi::schemas as doc};

pub fn routes(mount: &mut Mount, prefix: &str) {
    mount.route(prefix, "/webauthn/register/start", post(register_start));
    mount.route(prefix, "/webauthn/register/finish", post(register_finish));
    mount.route(prefix, "/webauthn/credentials", get(list));
    mount.route(prefix, "/webauthn/credentials/{id}", delete(remove));
    mount.route(prefix, "/webauthn/login/start", post(login_start));
    mount.route(prefix, "/webauthn/login/finish", post(login_finish));
    mount.route(prefix, "/webauthn/mfa/start", post(mfa_start));
    mount.route(prefix, "/webauthn/mfa/finish", post(mfa_finish));
}

/// The operations of this surface, relative to where it is mounted.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    register_start,
    register_finish,
    list,
    remove,
    login_start,
    login_finish,
    mfa_start,
    mfa_finish
))]
pub struct Api;

fn started<T: Serialize>(c: Ceremony<T>) -> Response {
    no_store(Json(json!({"ceremony_id": c.id, "options": c.options})))
}

/// `ceremony_id` and the `credential` object of a finish request.
fn finish_fields(body: &Fields, errors: &mut FieldErrors) -> Option<(String, Value)> {
    let ceremony = body.required("ceremony_id", Text::Exact, errors);
    let credential = match body.get("credential") {
        Some(v @ Value::Object(_)) => Some(v.clone()),
        _ => {
            errors.add(
                "credential",
                "The authenticator's response (an object) is required.",
            );
            None
        }
    };
    ceremony.zip(credential)
}

#[utoipa::path(
    post,
    path = "/webauthn/register/start",
    summary = "Start registering a passkey",
    responses(
        (status = 200, description = "Pass `options` to `navigator.credentials.create()`", body = doc::CeremonyStarted),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission, an API key on a session-only operation, or a failed CSRF check"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []))
)]
async fn register_start(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    Ok(started(
        app.passkey_register_start(caller.user_id()?).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/webauthn/register/finish",
    summary = "Finish registering a passkey",
    request_body = doc::CeremonyFinish,
    responses(
        (status = 201, description = "The new passkey", body = PasskeyView),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission, an API key on a session-only operation, or a failed CSRF check"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []))
)]
async fn register_finish(
    State(app): State<AppState>,
    caller: Caller,
    Client(ctx): Client,
    body: Fields,
) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::default();
    let name = body
        .optional("name", Text::Trimmed, &mut errors)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "Passkey".into());
    if name.chars().count() > 100 {
        errors.add("name", "Ensure this field has no more than 100 characters.");
    }
    let (Some((ceremony, credential)), true) =
        (finish_fields(&body, &mut errors), errors.is_empty())
    else {
        return Err(ApiError::validation(&errors));
    };
    let view = app
        .passkey_register_finish(caller.user_id()?, &ceremony, credential, &name, &ctx)
        .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[utoipa::path(
    get,
    path = "/webauthn/credentials",
    summary = "The signed-in user's passkeys",
    responses(
        (status = 200, description = "Passkeys", body = Vec<PasskeyView>),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission, an API key on a session-only operation, or a failed CSRF check"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []))
)]
async fn list(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    Ok(no_store(Json(app.passkey_list(caller.user_id()?).await?)))
}

#[utoipa::path(
    delete,
    path = "/webauthn/credentials/{id}",
    summary = "Remove a passkey",
    params(("id" = String, Path, description = "The identifier from the listing")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission, an API key on a session-only operation, or a failed CSRF check"),
        (status = 404, description = "No such resource"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []))
)]
async fn remove(
    State(app): State<AppState>,
    caller: Caller,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.passkey_delete(caller.user_id()?, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    post,
    path = "/webauthn/login/start",
    summary = "Start a passkey login",
    request_body = doc::PasskeyLoginStart,
    responses(
        (status = 200, description = "Pass `options` to `navigator.credentials.get()`", body = doc::CeremonyStarted),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "No passkey login for this user (`INVALID_CREDENTIALS`, the same for unknown users)"),
    )
)]
async fn login_start(State(app): State<AppState>, body: Fields) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::default();
    let Some(username) = body.required("username", Text::Trimmed, &mut errors) else {
        return Err(ApiError::validation(&errors));
    };
    Ok(started(app.passkey_login_start(&username).await?))
}

#[utoipa::path(
    post,
    path = "/webauthn/login/finish",
    summary = "Finish a passkey login",
    request_body = doc::CeremonyFinish,
    responses(
        (status = 200, description = "A token pair", body = doc::TokenPair),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "The assertion or ceremony is invalid"),
    )
)]
async fn login_finish(
    State(app): State<AppState>,
    Client(ctx): Client,
    body: Fields,
) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::default();
    let Some((ceremony, credential)) = finish_fields(&body, &mut errors) else {
        return Err(ApiError::validation(&errors));
    };
    let issued = app
        .passkey_login_finish(&ceremony, credential, &ctx)
        .await?;
    Ok(no_store(Json(token_pair(&issued))))
}

#[utoipa::path(
    post,
    path = "/webauthn/mfa/start",
    summary = "Start a passkey second factor",
    request_body = doc::PasskeyMfaStart,
    responses(
        (status = 200, description = "Pass `options` to `navigator.credentials.get()`", body = doc::CeremonyStarted),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "The `mfa_token` is invalid (`TOKEN_INVALID`)"),
    )
)]
async fn mfa_start(State(app): State<AppState>, body: Fields) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::default();
    let Some(token) = body.required("mfa_token", Text::Exact, &mut errors) else {
        return Err(ApiError::validation(&errors));
    };
    Ok(started(app.passkey_mfa_start(&token).await?))
}

#[utoipa::path(
    post,
    path = "/webauthn/mfa/finish",
    summary = "Finish a passkey second factor",
    request_body = doc::PasskeyMfaFinish,
    responses(
        (status = 200, description = "A token pair", body = doc::TokenPair),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "The assertion, ceremony or `mfa_token` is invalid"),
    )
)]
async fn mfa_finish(
    State(app): State<AppState>,
    Client(ctx): Client,
    body: Fields,
) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::default();
    let token = body.required("mfa_token", Text::Exact, &mut errors);
    let (Some(token), Some((ceremony, credential))) = (token, finish_fields(&body, &mut errors))
    else {
        return Err(ApiError::validation(&errors));
    };
    let issued = app
        .passkey_mfa_finish(&token, &ceremony, credential, &ctx)
        .await?;
    Ok(no_store(Json(token_pair(&issued))))
}
