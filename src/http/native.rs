//! The native API (`/auth`, `/auth/v1`): contract section 1.

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};

use super::{
    AppState, Client, Mount,
    auth::{Caller, MaybeCaller},
    error::ApiError,
    input::{Fields, FormOrJson, Text},
    no_store,
    signup::{EmailRule, read_registration},
};
use crate::{
    core::{IssuedTokens, VerifiedToken, rfc3339},
    domain::FieldErrors,
};

pub fn routes(mount: &mut Mount, prefix: &str) {
    mount.route(prefix, "/register", post(register));
    mount.route(prefix, "/token", post(token));
    mount.route(prefix, "/token/refresh", post(refresh));
    if prefix.ends_with("/v1") {
        mount.route(prefix, "/renew", post(refresh));
    }
    mount.route(prefix, "/token/verify", post(verify));
    mount.route(prefix, "/logout", post(logout));
    mount.route(prefix, "/me", get(me));
}

pub fn token_pair(t: &IssuedTokens) -> Value {
    json!({
        "access_token": t.access.token,
        "token_type": "bearer",
        "expires_in": t.access.expires_in,
        "refresh_token": t.refresh_token,
    })
}

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

async fn token(
    State(app): State<AppState>,
    Client(ctx): Client,
    FormOrJson(body): FormOrJson,
) -> Result<Response, ApiError> {
    let (username, password) = body.credentials().map_err(|e| ApiError::validation(&e))?;
    let issued = app.login(&username, &password, &ctx).await?;
    Ok(no_store(Json(token_pair(&issued))))
}

async fn refresh(
    State(app): State<AppState>,
    Client(ctx): Client,
    FormOrJson(body): FormOrJson,
) -> Result<Response, ApiError> {
    let presented = body
        .token("refresh_token")
        .map_err(|e| ApiError::validation(&e))?;
    let issued = app.refresh(&presented, &ctx).await?;
    Ok(no_store(Json(token_pair(&issued))))
}

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

async fn logout(
    State(app): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Client(ctx): Client,
    body: Fields,
) -> Result<Response, ApiError> {
    let all = body.flag("all");
    let mut errors = FieldErrors::default();
    match caller {
        Some(caller) => app.logout_bearer(&caller.claims, all, &ctx).await?,
        None => {
            let presented = body
                .optional("refresh_token", Text::Exact, &mut errors)
                .ok_or_else(ApiError::unauthorized)?;
            let info = app.inspect_refresh(&presented).await?;
            app.logout(&info.session_id, info.user_id, all, &ctx)
                .await?;
        }
    }
    Ok(no_store(Json(json!({"message": "Logout successful"}))))
}

async fn me(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let user = app
        .user(caller.user_id()?)
        .await
        .map_err(|_| ApiError::token_invalid())?;
    Ok(no_store(Json(user)))
}
