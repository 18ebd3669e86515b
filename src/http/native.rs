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
    principal::Principal,
};
use crate::{
    core::{CoreError, IssuedTokens, Registration, rfc3339},
    domain::{Email, FieldErrors, Secret, Username},
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
    mount.route(prefix, "/me", get(me).patch(super::account::update_me));
    mount.route(prefix, "/password/change", post(change_password));
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
    let registration = read_registration(&app, &body)?;
    let user = app.register(registration, &ctx).await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

/// A registration body (`username`, `email`, `password`, names) checked field by field.
pub(super) fn read_registration(app: &AppState, body: &Fields) -> Result<Registration, ApiError> {
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
    Ok(Registration {
        username,
        email,
        password,
        first_name,
        last_name,
        is_superuser: false,
        roles: vec!["user".into()],
    })
}

async fn token(
    State(app): State<AppState>,
    Client(ctx): Client,
    FormOrJson(body): FormOrJson,
) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::default();
    let username = body.required("username", Text::Trimmed, &mut errors);
    let password = body.required("password", Text::Exact, &mut errors);
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::validation(&errors));
    };
    let issued = app.login(&username, &Secret::new(password), &ctx).await?;
    Ok(no_store(Json(token_pair(&issued))))
}

async fn refresh(
    State(app): State<AppState>,
    Client(ctx): Client,
    FormOrJson(body): FormOrJson,
) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::default();
    let Some(presented) = body.required("refresh_token", Text::Exact, &mut errors) else {
        return Err(ApiError::validation(&errors));
    };
    let issued = app.refresh(&presented, &ctx).await?;
    Ok(no_store(Json(token_pair(&issued))))
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

async fn logout(
    State(app): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Client(ctx): Client,
    body: Fields,
) -> Result<Response, ApiError> {
    let all = body.flag("all");
    let mut errors = FieldErrors::default();
    let (session_id, user_id) = match caller {
        Some(caller) => (caller.claims.sid.clone(), caller.user_id()?),
        None => {
            let presented = body
                .optional("refresh_token", Text::Exact, &mut errors)
                .ok_or_else(ApiError::unauthorized)?;
            let info = app.inspect_refresh(&presented).await?;
            (info.session_id, info.user_id)
        }
    };
    app.logout(&session_id, user_id, all, &ctx).await?;
    Ok(no_store(Json(json!({"message": "Logout successful"}))))
}

async fn me(State(app): State<AppState>, caller: Principal) -> Result<Response, ApiError> {
    // A token whose user no longer exists is as good as revoked.
    let user = app.user(caller.user_id).await.map_err(|e| match e {
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
