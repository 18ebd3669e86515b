//! Login, refresh and logout: the endpoints that hand out or end tokens, in body mode or in
//! browser cookie mode.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, Method},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::http::openapi::schemas as doc;
use crate::{
    core::IssuedTokens,
    domain::FieldErrors,
    http::{
        AppState, Client,
        auth::MaybeCaller,
        cookies,
        error::ApiError,
        input::{Fields, FormOrJson, Text},
        no_store,
    },
};

pub fn token_pair(t: &IssuedTokens) -> Value {
    json!({
        "access_token": t.access.token,
        "token_type": "bearer",
        "expires_in": t.access.expires_in,
        "refresh_token": t.refresh_token,
    })
}

/// The TokenPair answer; in cookie mode the tokens go into cookies and the body carries
/// `"refresh_token": null`.
fn tokens_response(app: &AppState, issued: &IssuedTokens, in_cookies: bool) -> Response {
    let mut body = token_pair(issued);
    if !in_cookies {
        return no_store(Json(body));
    }
    body["refresh_token"] = Value::Null;
    let mut response = no_store(Json(body));
    cookies::issue(app, issued, response.headers_mut());
    response
}

#[utoipa::path(
    post,
    path = "/token",
    summary = "Log in with username (or email) and password",
    request_body(content((doc::Credentials = "application/json"), (doc::Credentials = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "A token pair; in cookie mode the tokens are set as cookies", body = doc::TokenPair),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "Wrong credentials (`INVALID_CREDENTIALS`) or a second factor is needed (`MFA_REQUIRED`, `details.mfa_token`)"),
        (status = 403, description = "Email not verified, or a cookie-mode request from a foreign origin"),
    )
)]
pub async fn login(
    State(app): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Client(ctx): Client,
    FormOrJson(body): FormOrJson,
) -> Result<Response, ApiError> {
    sign_in(&app, &method, &headers, async {
        let (username, password) = body.credentials().map_err(|e| ApiError::validation(&e))?;
        Ok(app.login(&username, &password, &ctx).await?)
    })
    .await
}

/// Answers the tokens of a sign-in: in cookie mode the origin is checked before `issue`
/// runs, and the tokens go into cookies.
pub async fn sign_in(
    app: &AppState,
    method: &Method,
    headers: &HeaderMap,
    issue: impl Future<Output = Result<IssuedTokens, ApiError>>,
) -> Result<Response, ApiError> {
    let in_cookies = cookies::cookie_mode(app, headers);
    if in_cookies {
        cookies::check_origin(app, method, headers)?;
    }
    let issued = issue.await?;
    Ok(tokens_response(app, &issued, in_cookies))
}

/// The refresh token from the body, or else from the refresh cookie (after the CSRF checks).
async fn presented_refresh(
    app: &AppState,
    method: &Method,
    headers: &HeaderMap,
    body: &Fields,
    field: &str,
) -> Result<(String, bool), ApiError> {
    let mut errors = FieldErrors::default();
    if let Some(token) = body
        .optional(field, Text::Exact, &mut errors)
        .filter(|t| !t.is_empty())
    {
        return Ok((token, false));
    }
    let Some(token) = cookies::read(headers, cookies::names(app).refresh) else {
        if errors.is_empty() {
            errors.add(field, FieldErrors::REQUIRED);
        }
        return Err(ApiError::validation(&errors));
    };
    let session = app.session_of_refresh(&token).await?;
    cookies::check_csrf(app, method, headers, &session)?;
    Ok((token, true))
}

#[utoipa::path(
    post,
    path = "/token/refresh",
    summary = "Rotate a refresh token for a new pair",
    request_body(content((doc::RefreshRequest = "application/json"), (doc::RefreshRequest = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "The rotated pair", body = doc::TokenPair),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "Invalid, expired, revoked or reused (`TOKEN_INVALID`)"),
        (status = 403, description = "Failed CSRF check (cookie mode)"),
    ),
    security((), ("cookie" = [], "csrf" = []))
)]
pub async fn refresh(
    State(app): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Client(ctx): Client,
    FormOrJson(body): FormOrJson,
) -> Result<Response, ApiError> {
    let (presented, from_cookie) =
        presented_refresh(&app, &method, &headers, &body, "refresh_token").await?;
    let issued = app.refresh(&presented, &ctx).await?;
    Ok(tokens_response(
        &app,
        &issued,
        from_cookie || cookies::cookie_mode(&app, &headers),
    ))
}

#[utoipa::path(
    post,
    path = "/logout",
    summary = "End this session, or every session with `all`",
    request_body(content((doc::LogoutRequest = "application/json"), (doc::LogoutRequest = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Logged out", body = doc::Message),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Failed CSRF check (cookie mode)"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ())
)]
pub async fn logout(
    State(app): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    method: Method,
    headers: HeaderMap,
    Client(ctx): Client,
    body: Fields,
) -> Result<Response, ApiError> {
    let all = body.flag("all");
    let by_cookie = match caller {
        // Access tokens, including a replaced service's legacy ones.
        Some(caller) => {
            app.logout_bearer(&caller.claims, all, &ctx).await?;
            caller.via_cookie
        }
        None => {
            let (presented, from_cookie) =
                presented_refresh(&app, &method, &headers, &body, "refresh_token")
                    .await
                    .map_err(|e| {
                        if e.code == "VALIDATION_ERROR" {
                            ApiError::unauthorized()
                        } else {
                            e
                        }
                    })?;
            let info = app.inspect_refresh(&presented).await?;
            app.logout(&info.session_id, info.user_id, all, &ctx)
                .await?;
            from_cookie
        }
    };
    let mut response = no_store(Json(json!({"message": "Logout successful"})));
    if by_cookie || cookies::cookie_mode(&app, &headers) {
        cookies::clear(&app, response.headers_mut());
    }
    Ok(response.into_response())
}
