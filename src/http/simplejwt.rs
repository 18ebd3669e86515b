//! The SimpleJWT dialect (contract section 3): the answers djangorestframework-simplejwt
//! gives, so its clients work unchanged. Paths answer with and without the trailing slash.

use axum::{
    Json,
    extract::State,
    http::{Method, StatusCode},
    response::Response,
    routing::{MethodRouter, get, post},
};
use serde_json::{Value, json};

use super::{
    AppState, Client, Mount,
    auth::Caller,
    error::ApiError,
    input::FormOrJson,
    no_store,
    signup::{EmailRule, read_registration},
};
use crate::http::openapi::schemas as doc;
use crate::{
    config::SimpleJwtApi,
    core::{CoreError, Rotation},
};

pub fn routes(mount: &mut Mount, api: &SimpleJwtApi) {
    let prefix = api.prefix.as_str();
    both(mount, prefix, "/token", post(obtain));
    both(mount, prefix, "/token/refresh", post(refresh));
    both(mount, prefix, "/token/verify", post(verify));
    if api.extras {
        both(mount, prefix, "/register", post(register));
        both(mount, prefix, "/getuser", get(getuser));
    }
}

/// The operations of this surface, relative to where it is mounted.
#[derive(utoipa::OpenApi)]
#[openapi(paths(obtain, refresh, verify, register, getuser))]
pub struct Api;

fn both(mount: &mut Mount, prefix: &str, path: &str, handler: MethodRouter<AppState>) {
    mount.alias(prefix, &format!("{path}/"), path, handler.clone());
    mount.route(prefix, path, handler);
}

/// A failure as DRF and SimpleJWT render it.
pub fn failure(e: &ApiError, method: &Method) -> Value {
    match e.code {
        // Field errors are the whole body: {"username": ["This field is required."]}.
        "VALIDATION_ERROR" => match &e.details {
            Some(fields) => (**fields).clone(),
            None => json!({"detail": e.message}),
        },
        "INVALID_CREDENTIALS" => {
            json!({"detail": "No active account found with the given credentials"})
        }
        "TOKEN_INVALID" => {
            let mut body = json!({"detail": e.message, "code": "token_not_valid"});
            if let Some(messages) = &e.details {
                body["messages"] = (**messages).clone();
            }
            body
        }
        "UNAUTHORIZED" => json!({"detail": "Authentication credentials were not provided."}),
        "USER_EXISTS" => json!({"detail": "User already exists"}),
        "NOT_FOUND" => json!({"detail": "Not found."}),
        "METHOD_NOT_ALLOWED" => json!({"detail": format!("Method \"{method}\" not allowed.")}),
        "INTERNAL_ERROR" => json!({"detail": "A server error occurred."}),
        _ => json!({"detail": e.message}),
    }
}

fn pair(refresh: &str, access: &str) -> Value {
    json!({"refresh": refresh, "access": access})
}

#[utoipa::path(
    post,
    path = "/token",
    summary = "Obtain a token pair (SimpleJWT `TokenObtainPairView`)",
    request_body(content((doc::SimpleJwtCredentials = "application/json"), (doc::SimpleJwtCredentials = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "The pair", body = doc::SimpleJwtPair),
        (status = 400, description = "Field errors: `{\"username\": [\"This field is required.\"]}`"),
        (status = 401, description = "`No active account found with the given credentials`"),
    )
)]
async fn obtain(
    State(app): State<AppState>,
    Client(ctx): Client,
    FormOrJson(body): FormOrJson,
) -> Result<Response, ApiError> {
    let (username, password) = body.credentials().map_err(|e| ApiError::validation(&e))?;
    let issued = app.login(&username, &password, &ctx).await?;
    Ok(no_store(Json(pair(
        &issued.refresh_token,
        &issued.access.token,
    ))))
}

/// Without rotation SimpleJWT answers only `access` and the refresh token stays usable;
/// with it, the rotated refresh token comes along.
#[utoipa::path(
    post,
    path = "/token/refresh",
    summary = "Refresh an access token (SimpleJWT `TokenRefreshView`)",
    request_body(content((doc::SimpleJwtRefresh = "application/json"), (doc::SimpleJwtRefresh = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "A new access token, and a rotated refresh token when rotation is on", body = doc::SimpleJwtAccess),
        (status = 400, description = "Field errors"),
        (status = 401, description = "`token_not_valid`"),
    )
)]
async fn refresh(
    State(app): State<AppState>,
    Client(ctx): Client,
    FormOrJson(body): FormOrJson,
) -> Result<Response, ApiError> {
    let presented = body
        .token("refresh")
        .map_err(|e| ApiError::validation(&e))?;
    let rotation = if app.settings.api.simplejwt.rotate_refresh {
        Rotation::Rotate
    } else {
        Rotation::Keep
    };
    let issued = app.renew(&presented, rotation, &ctx).await?;
    let answer = match rotation {
        Rotation::Rotate => json!({"access": issued.access.token, "refresh": issued.refresh_token}),
        Rotation::Keep => json!({"access": issued.access.token}),
    };
    Ok(no_store(Json(answer)))
}

/// Access or refresh token; `{}` when valid.
#[utoipa::path(
    post,
    path = "/token/verify",
    summary = "Verify a token (SimpleJWT `TokenVerifyView`)",
    request_body(content((doc::TokenField = "application/json"), (doc::TokenField = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Valid", body = doc::Empty),
        (status = 400, description = "Field errors"),
        (status = 401, description = "`token_not_valid`"),
    )
)]
async fn verify(
    State(app): State<AppState>,
    FormOrJson(body): FormOrJson,
) -> Result<Response, ApiError> {
    let token = body.token("token").map_err(|e| ApiError::validation(&e))?;
    app.verify_token(&token).await?;
    Ok(no_store(Json(json!({}))))
}

#[utoipa::path(
    post,
    path = "/register",
    summary = "Register and obtain a token pair (extras)",
    request_body(content((doc::SimpleJwtRegistration = "application/json"), (doc::SimpleJwtRegistration = "application/x-www-form-urlencoded"))),
    responses(
        (status = 201, description = "The pair", body = doc::SimpleJwtPair),
        (status = 400, description = "Field errors"),
        (status = 409, description = "`User already exists`"),
    )
)]
async fn register(
    State(app): State<AppState>,
    Client(ctx): Client,
    FormOrJson(body): FormOrJson,
) -> Result<Response, ApiError> {
    let registration = read_registration(
        &app,
        &body,
        &["username", "password", "email"],
        EmailRule::Optional,
    )
    .map_err(|e| ApiError::validation(&e))?;
    let issued = app.sign_up(registration, &ctx).await?;
    let body = pair(&issued.refresh_token, &issued.access.token);
    Ok(no_store((StatusCode::CREATED, Json(body))))
}

/// SimpleJWT's authentication class explains a refused bearer token per token type.
fn bearer_refused() -> ApiError {
    ApiError::token_invalid()
        .with_message("Given token not valid for any token type")
        .with_details(json!([{
            "token_class": "AccessToken",
            "token_type": "access",
            "message": "Token is invalid or expired",
        }]))
}

#[utoipa::path(
    get,
    path = "/getuser",
    summary = "The signed-in user's name (extras)",
    responses(
        (status = 200, description = "The username", body = doc::SimpleJwtUser),
        (status = 401, description = "Not signed in, or the token is invalid"),
        (status = 403, description = "An API key, or a failed CSRF check"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []))
)]
async fn getuser(
    State(app): State<AppState>,
    caller: Result<Caller, ApiError>,
) -> Result<Response, ApiError> {
    let caller = caller.map_err(|e| {
        if e.code == "TOKEN_INVALID" {
            bearer_refused()
        } else {
            e
        }
    })?;
    let user = app.user(caller.user_id()?).await.map_err(|e| match e {
        CoreError::NotFound => bearer_refused(),
        other => other.into(),
    })?;
    Ok(no_store(Json(json!({"username": user.username}))))
}
