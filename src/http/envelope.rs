//! The envelope dialect (contract section 4): `{success, message, data}` bodies, as the
//! Spring-style service it replaces answered.

use axum::{Json, extract::State, response::Response, routing::post};
use serde_json::{Value, json};

use super::{AppState, Client, Mount, error::ApiError, input::FormOrJson, no_store};
use crate::core::{CoreError, IssuedTokens};
use crate::http::openapi::schemas as doc;

pub fn routes(mount: &mut Mount, prefix: &str) {
    mount.route(prefix, "/login", post(login));
    mount.route(prefix, "/refresh-token", post(refresh));
}

/// The operations of this surface, relative to where it is mounted.
#[derive(utoipa::OpenApi)]
#[openapi(paths(login, refresh))]
pub struct Api;

/// Every failure: `{"success":false,"message":…}` with the status of the failure.
pub fn failure(e: &ApiError) -> Value {
    json!({"success": false, "message": e.message})
}

fn success(message: &str, data: Value) -> Response {
    no_store(Json(
        json!({"success": true, "message": message, "data": data}),
    ))
}

#[utoipa::path(
    post,
    path = "/login",
    summary = "Log in",
    request_body(content((doc::Credentials = "application/json"), (doc::Credentials = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Tokens in an envelope", body = doc::EnvelopeLogin),
        (status = 400, description = "`Username and password are required`"),
        (status = 401, description = "`Invalid username or password`"),
    )
)]
async fn login(
    State(app): State<AppState>,
    Client(ctx): Client,
    FormOrJson(body): FormOrJson,
) -> Result<Response, ApiError> {
    let (username, password) = body
        .credentials()
        .map_err(|_| ApiError::bad_request("Username and password are required"))?;
    let issued = app.login(&username, &password, &ctx).await?;
    Ok(success("Login successful", data(&issued, "token")))
}

#[utoipa::path(
    post,
    path = "/refresh-token",
    summary = "Rotate a refresh token",
    request_body(content((doc::EnvelopeRefresh = "application/json"), (doc::EnvelopeRefresh = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Tokens in an envelope", body = doc::EnvelopeRefreshed),
        (status = 400, description = "`Refresh token is required`"),
        (status = 401, description = "`Invalid refresh token` or `Refresh token expired`"),
    )
)]
async fn refresh(
    State(app): State<AppState>,
    Client(ctx): Client,
    FormOrJson(body): FormOrJson,
) -> Result<Response, ApiError> {
    let presented = body
        .token("refreshToken")
        .map_err(|_| ApiError::bad_request("Refresh token is required"))?;
    let issued = app.refresh(&presented, &ctx).await.map_err(|e| match e {
        CoreError::TokenInvalid => ApiError::token_invalid().with_message("Invalid refresh token"),
        CoreError::TokenExpired => ApiError::token_invalid().with_message("Refresh token expired"),
        other => other.into(),
    })?;
    Ok(success("Token refreshed", data(&issued, "accessToken")))
}

/// Login names the access token `token`, refresh names it `accessToken`.
fn data(issued: &IssuedTokens, access_name: &str) -> Value {
    let mut data = serde_json::Map::new();
    data.insert(access_name.into(), issued.access.token.clone().into());
    data.insert("refreshToken".into(), issued.refresh_token.clone().into());
    data.insert("username".into(), issued.user.username.clone().into());
    data.insert("email".into(), issued.user.email.clone().into());
    data.insert("roles".into(), issued.user.roles.clone().into());
    Value::Object(data)
}
