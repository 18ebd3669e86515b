//! The native API (`/auth`, `/auth/v1`): contract section 1.

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
};
use crate::{
    core::{CoreError, Registration, rfc3339},
    domain::{Email, FieldErrors, Secret, Username},
};

mod tokens;

pub fn routes(mount: &mut Mount, prefix: &str) {
    mount.route(prefix, "/register", post(register));
    mount.route(prefix, "/token", post(tokens::login));
    mount.route(prefix, "/token/refresh", post(tokens::refresh));
    if prefix.ends_with("/v1") {
        mount.route(prefix, "/renew", post(tokens::refresh));
    }
    mount.route(prefix, "/token/verify", post(verify));
    mount.route(prefix, "/logout", post(tokens::logout));
    mount.route(prefix, "/me", get(me));
    mount.route(prefix, "/password/change", post(change_password));
}

async fn register(
    State(app): State<AppState>,
    Client(ctx): Client,
    body: Fields,
) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::default();
    let username = body.required("username", Text::Trimmed, &mut errors);
    let email = body.required("email", Text::Trimmed, &mut errors);
    let password = body.required("password", Text::Exact, &mut errors);
    let first_name = body
        .optional("first_name", Text::Trimmed, &mut errors)
        .unwrap_or_default();
    let last_name = body
        .optional("last_name", Text::Trimmed, &mut errors)
        .unwrap_or_default();
    let username = username.and_then(|u| {
        Username::parse(&u)
            .map_err(|m| errors.add("username", m))
            .ok()
    });
    let email = email.and_then(|e| Email::parse(&e).map_err(|m| errors.add("email", m)).ok());
    let password = match (&password, &username, &email) {
        (Some(p), Some(u), Some(e)) => app
            .new_password(p, &[u.as_str(), e.as_str()])
            .map_err(|m| errors.add("password", m))
            .ok(),
        (Some(p), _, _) => app
            .new_password(p, &[])
            .map_err(|m| errors.add("password", m))
            .ok(),
        _ => None,
    };
    for (name, value) in [("first_name", &first_name), ("last_name", &last_name)] {
        if value.chars().count() > 150 {
            errors.add(name, "Ensure this field has no more than 150 characters.");
        }
    }
    let (Some(username), Some(email), Some(password)) = (username, email, password) else {
        return Err(ApiError::validation(&errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(&errors));
    }
    let registration = Registration {
        username,
        email,
        password,
        first_name,
        last_name,
        is_superuser: false,
        roles: vec!["user".into()],
    };
    let user = app.register(registration, &ctx).await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

async fn verify(State(app): State<AppState>, body: Fields) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::default();
    let Some(token) = body.required("token", Text::Exact, &mut errors) else {
        return Err(ApiError::validation(&errors));
    };
    let answer = if token.contains('.') {
        let claims = app.verify_access_token(&token).await?;
        json!({"valid": true, "token_type": "access", "expires_at": rfc3339(claims.exp), "claims": claims})
    } else {
        let info = app.inspect_refresh(&token).await?;
        json!({
            "valid": true,
            "token_type": "refresh",
            "expires_at": rfc3339(info.expires_at),
            "claims": {"sub": info.user_id.to_string(), "sid": info.session_id, "user_id": info.user_id},
        })
    };
    Ok(no_store(Json(answer)))
}

async fn me(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    // A token whose user no longer exists is as good as revoked.
    let user = app.user(caller.user_id()?).await.map_err(|e| match e {
        CoreError::NotFound => ApiError::token_invalid(),
        other => other.into(),
    })?;
    Ok(no_store(Json(user)))
}

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
