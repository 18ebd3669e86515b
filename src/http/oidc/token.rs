//! The token endpoint and its companions: UserInfo, introspection (RFC 7662) and
//! revocation (RFC 7009).

use axum::{
    Json,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::credentials::{authenticated_client, oauth_error, render_oauth_error};
use crate::http::openapi::schemas as doc;
use crate::{
    core::{CoreError, OAuthError, OAuthTokens},
    http::{
        ApiError, AppState, Client, auth,
        input::{Fields, FormOrJson},
        no_store,
    },
};

/// The body of a client request; one that cannot be read is an RFC 6749 `invalid_request`
/// like any other malformed request, not a failure in the native shape.
// The refusal is the finished response, as with `authenticated_client`.
#[allow(clippy::result_large_err)]
fn client_request(body: Result<FormOrJson, ApiError>) -> Result<Fields, Response> {
    body.map(|FormOrJson(fields)| fields)
        .map_err(|e| oauth_error("invalid_request", &e.message))
}

fn field<'a>(body: &'a Fields, name: &str) -> Option<&'a str> {
    body.get(name)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
}

#[utoipa::path(
    post,
    path = "/token",
    summary = "Token endpoint (RFC 6749 §3.2)",
    request_body(content((doc::TokenRequest = "application/json"), (doc::TokenRequest = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Tokens", body = doc::OAuthTokenAnswer),
        (status = 400, description = "`invalid_request`, `invalid_grant`, `unsupported_grant_type`, `unauthorized_client`, `invalid_scope`", body = doc::OAuthErrorBody),
        (status = 401, description = "`invalid_client`", body = doc::OAuthErrorBody),
    ),
    security(("client_basic" = []), ())
)]
pub async fn token(
    State(app): State<AppState>,
    Client(ctx): Client,
    headers: HeaderMap,
    body: Result<FormOrJson, ApiError>,
) -> Response {
    let body = match client_request(body) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let Some(grant) = field(&body, "grant_type") else {
        return oauth_error("invalid_request", "grant_type is required");
    };
    let public_ok = grant != "client_credentials";
    let client = match authenticated_client(&app, &headers, &body, public_ok).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let known = ["authorization_code", "refresh_token", "client_credentials"];
    if !known.contains(&grant) {
        return oauth_error(
            "unsupported_grant_type",
            "Supported: authorization_code, refresh_token, client_credentials",
        );
    }
    if !client.allows_grant(grant) {
        return render_oauth_error(OAuthError::UnauthorizedClient);
    }
    let outcome = match grant {
        "authorization_code" => match field(&body, "code") {
            Some(code) => {
                app.exchange_code(
                    &client,
                    code,
                    field(&body, "redirect_uri"),
                    field(&body, "code_verifier"),
                    &ctx,
                )
                .await
            }
            None => Err(OAuthError::InvalidRequest("code is required")),
        },
        "refresh_token" => match field(&body, "refresh_token") {
            Some(token) => {
                app.refresh_grant(&client, token, field(&body, "scope"), &ctx)
                    .await
            }
            None => Err(OAuthError::InvalidRequest("refresh_token is required")),
        },
        _ => {
            app.client_credentials_grant(&client, field(&body, "scope"))
                .await
        }
    };
    match outcome {
        Ok(tokens) => token_response(tokens),
        Err(e) => render_oauth_error(e),
    }
}

fn token_response(t: OAuthTokens) -> Response {
    let mut body = json!({
        "access_token": t.access_token,
        "token_type": "Bearer",
        "expires_in": t.expires_in,
        "scope": t.scope,
    });
    if let Some(map) = body.as_object_mut() {
        if let Some(r) = t.refresh_token {
            map.insert("refresh_token".into(), r.into());
        }
        if let Some(id) = t.id_token {
            map.insert("id_token".into(), id.into());
        }
    }
    no_store(Json(body))
}

fn bearer_challenge(status: StatusCode, error: &'static str) -> Response {
    let mut response = no_store((status, Json(json!({"error": error}))));
    let value = format!("Bearer realm=\"castellan\", error=\"{error}\"");
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

/// UserInfo over GET or POST, with the access token as a bearer credential.
#[utoipa::path(
    method(get, post),
    path = "/userinfo",
    summary = "UserInfo (OpenID Connect Core §5.3)",
    responses(
        (status = 200, description = "Claims released by the token's scopes", body = doc::UserInfo),
        (status = 401, description = "`invalid_token`", body = doc::BearerError),
        (status = 403, description = "`insufficient_scope`", body = doc::BearerError),
    ),
    security(("bearer" = []))
)]
pub async fn userinfo(State(app): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let Some(token) = auth::bearer(&parts) else {
        return bearer_challenge(StatusCode::UNAUTHORIZED, "invalid_token");
    };
    let claims = match app.verify_access_token(token).await {
        Ok(c) => c,
        Err(CoreError::TokenInvalid) => {
            return bearer_challenge(StatusCode::UNAUTHORIZED, "invalid_token");
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    match app.userinfo(&claims).await {
        Ok(info) => no_store(Json(info)),
        Err(CoreError::Forbidden(_)) => {
            bearer_challenge(StatusCode::FORBIDDEN, "insufficient_scope")
        }
        Err(CoreError::NotFound) => bearer_challenge(StatusCode::UNAUTHORIZED, "invalid_token"),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[utoipa::path(
    post,
    path = "/introspect",
    summary = "Token introspection (RFC 7662)",
    request_body(content((doc::ClientTokenRequest = "application/json"), (doc::ClientTokenRequest = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "`active` and, for an active token, its claims", body = doc::Introspection),
        (status = 400, description = "`invalid_request`", body = doc::OAuthErrorBody),
        (status = 401, description = "`invalid_client`", body = doc::OAuthErrorBody),
    ),
    security(("client_basic" = []))
)]
pub async fn introspect(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<FormOrJson, ApiError>,
) -> Response {
    let body = match client_request(body) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    if let Err(response) = authenticated_client(&app, &headers, &body, false).await {
        return response;
    }
    let Some(token) = field(&body, "token") else {
        return oauth_error("invalid_request", "token is required");
    };
    match app.introspect(token).await {
        Ok(answer) => no_store(Json(answer)),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[utoipa::path(
    post,
    path = "/revoke",
    summary = "Token revocation (RFC 7009)",
    request_body(content((doc::ClientTokenRequest = "application/json"), (doc::ClientTokenRequest = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Revoked, or the token was already unknown"),
        (status = 400, description = "`invalid_request`", body = doc::OAuthErrorBody),
        (status = 401, description = "`invalid_client`", body = doc::OAuthErrorBody),
    ),
    security(("client_basic" = []), ())
)]
pub async fn revoke(
    State(app): State<AppState>,
    Client(ctx): Client,
    headers: HeaderMap,
    body: Result<FormOrJson, ApiError>,
) -> Response {
    let body = match client_request(body) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let client = match authenticated_client(&app, &headers, &body, true).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    let Some(token) = field(&body, "token") else {
        return oauth_error("invalid_request", "token is required");
    };
    match app.revoke_token(&client, token, &ctx).await {
        Ok(()) => no_store(StatusCode::OK),
        Err(e) => ApiError::from(e).into_response(),
    }
}
