//! Client authentication (`client_secret_basic`, `client_secret_post`, or a public client's
//! bare `client_id`) and RFC 6749 section 5.2 error answers.
// A refusal here is the finished answer (a page, a redirect or an RFC 6749 body), made
// once per request; boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use axum::{
    Json,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::json;

use crate::{
    core::{ClientCredentials, CoreError, OAuthClient, OAuthError},
    http::{ApiError, AppState, input::Fields, no_store},
};

/// An RFC 6749 error body; `invalid_client` also gets 401 and a `WWW-Authenticate` challenge.
pub fn oauth_error(error: &str, description: &str) -> Response {
    let status = if error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut response = no_store((
        status,
        Json(json!({"error": error, "error_description": description})),
    ));
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"castellan\""),
        );
    }
    response
}

pub fn render_oauth_error(e: OAuthError) -> Response {
    match e {
        OAuthError::InvalidRequest(m) => oauth_error("invalid_request", m),
        OAuthError::InvalidGrant(m) => oauth_error("invalid_grant", m),
        OAuthError::InvalidScope => {
            oauth_error("invalid_scope", "The requested scope is not allowed")
        }
        OAuthError::UnauthorizedClient => oauth_error(
            "unauthorized_client",
            "The client may not use this grant type",
        ),
        OAuthError::Core(e) => ApiError::from(e).into_response(),
    }
}

/// Form-decodes one half of a Basic credential (RFC 6749 section 2.3.1).
fn form_decode(s: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={s}")).ok()?;
    pairs.into_iter().next().map(|(_, v)| v)
}

/// The credentials of the request; both methods at once is an error.
fn presented(headers: &HeaderMap, body: &Fields) -> Result<ClientCredentials, Response> {
    let field = |name: &str| body.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, value)| value.trim().to_owned());
    let unauthorized = || oauth_error("invalid_client", "Client authentication failed");
    if let Some(encoded) = basic {
        if field("client_secret").is_some() {
            return Err(oauth_error(
                "invalid_request",
                "Use one client authentication method",
            ));
        }
        let decoded = STANDARD.decode(encoded).map_err(|_| unauthorized())?;
        let text = String::from_utf8(decoded).map_err(|_| unauthorized())?;
        let (id, secret) = text.split_once(':').ok_or_else(unauthorized)?;
        let (id, secret) = (
            form_decode(id).ok_or_else(unauthorized)?,
            form_decode(secret).ok_or_else(unauthorized)?,
        );
        if field("client_id").is_some_and(|c| c != id) {
            return Err(unauthorized());
        }
        return Ok(ClientCredentials {
            client_id: id,
            secret: Some(secret),
        });
    }
    let client_id = field("client_id").ok_or_else(unauthorized)?;
    Ok(ClientCredentials {
        client_id,
        secret: field("client_secret"),
    })
}

/// The authenticated client, or the RFC 6749 answer to send instead.
pub async fn authenticated_client(
    app: &AppState,
    headers: &HeaderMap,
    body: &Fields,
    public_ok: bool,
) -> Result<OAuthClient, Response> {
    let creds = presented(headers, body)?;
    app.authenticate_client(&creds, public_ok)
        .await
        .map_err(|e| match e {
            CoreError::InvalidCredentials => {
                oauth_error("invalid_client", "Client authentication failed")
            }
            other => ApiError::from(other).into_response(),
        })
}
