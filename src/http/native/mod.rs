//! The native API (`/auth`, `/auth/v1`): contract sections 1 and 5.

mod tokens;

pub use tokens::{sign_in, token_pair};

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;

use super::{
    AppState, Client, Mount,
    auth::Caller,
    error::ApiError,
    input::{Fields, Text},
    no_store,
    principal::Principal,
    signup::{EmailRule, read_registration},
};
use crate::{
    core::{CoreError, VerifiedToken, rfc3339},
    domain::{FieldErrors, Secret},
};
use crate::{domain::User, http::openapi::schemas as doc};

pub fn routes(mount: &mut Mount, prefix: &str) {
    mount.route(prefix, "/register", post(register));
    mount.route(prefix, "/token", post(tokens::login));
    mount.route(prefix, "/token/refresh", post(tokens::refresh));
    if prefix.ends_with("/v1") {
        mount.alias(prefix, "/renew", "/token/refresh", post(tokens::refresh));
    }
    mount.route(prefix, "/token/verify", post(verify));
    mount.route(prefix, "/logout", post(tokens::logout));
    mount.route(prefix, "/me", get(me).patch(super::account::update_me));
    mount.route(prefix, "/password/change", post(change_password));
}

/// The operations of this surface, relative to where it is mounted.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    register,
    tokens::login,
    tokens::refresh,
    verify,
    tokens::logout,
    me,
    change_password
))]
pub struct Api;

#[utoipa::path(
    post,
    path = "/register",
    summary = "Register a user",
    request_body = doc::Registration,
    responses(
        (status = 201, description = "The new user", body = User),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 409, description = "The username or email is taken (`USER_EXISTS`)"),
    )
)]
async fn register(
    State(app): State<AppState>,
    Client(ctx): Client,
    body: Fields,
) -> Result<Response, ApiError> {
    let order = ["username", "email", "password", "first_name", "last_name"];
    let registration = read_registration(&app, &body, &order, EmailRule::Required)
        .map_err(|e| ApiError::validation(&e))?;
    let user = app.register(registration, &ctx).await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

#[utoipa::path(
    post,
    path = "/token/verify",
    summary = "Check an access or refresh token",
    request_body = doc::TokenField,
    responses(
        (status = 200, description = "The token is valid", body = doc::VerifyAnswer),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "Invalid, expired or revoked (`TOKEN_INVALID`)"),
    )
)]
async fn verify(State(app): State<AppState>, body: Fields) -> Result<Response, ApiError> {
    let token = body.token("token").map_err(|e| ApiError::validation(&e))?;
    let answer = match app.verify_token(&token).await? {
        VerifiedToken::Access(claims) => {
            json!({"valid": true, "token_type": "access", "expires_at": rfc3339(claims.exp), "claims": claims})
        }
        VerifiedToken::Refresh(info) => json!({
            "valid": true,
            "token_type": "refresh",
            "expires_at": rfc3339(info.expires_at),
            "claims": {"sub": info.user_id.to_string(), "sid": info.session_id, "user_id": info.user_id},
        }),
    };
    Ok(no_store(Json(answer)))
}

#[utoipa::path(
    get,
    path = "/me",
    summary = "The signed-in user",
    responses(
        (status = 200, description = "The caller", body = User),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
    ),
    security(("bearer" = []), ("api_key" = []), ("cookie" = [], "csrf" = []))
)]
async fn me(State(app): State<AppState>, caller: Principal) -> Result<Response, ApiError> {
    // A token whose user no longer exists is as good as revoked.
    let user = app.cached_user(caller.user_id).await.map_err(|e| match e {
        CoreError::NotFound => ApiError::token_invalid(),
        other => other.into(),
    })?;
    Ok(no_store(Json(user)))
}

#[utoipa::path(
    post,
    path = "/password/change",
    summary = "Change the password; ends every other session",
    request_body = doc::PasswordChange,
    responses(
        (status = 200, description = "Changed", body = doc::Message),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission, an API key on a session-only operation, or a failed CSRF check"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []))
)]
async fn change_password(
    State(app): State<AppState>,
    caller: Caller,
    Client(ctx): Client,
    body: Fields,
) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::default();
    let current = body.required("current_password", Text::Exact, &mut errors);
    let new = body.required("new_password", Text::Exact, &mut errors);
    let (Some(current), Some(new)) = (current, new) else {
        return Err(ApiError::validation(&errors));
    };
    let user_id = caller.user_id()?;
    app.change_password(
        user_id,
        &caller.claims.sid,
        &Secret::new(current),
        &new,
        &ctx,
    )
    .await?;
    Ok(no_store(Json(json!({"message": "Password changed"}))))
}
