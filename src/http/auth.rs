//! Authentication as extractors: a bearer access token, or the access cookie of a browser
//! session (then state-changing requests must also pass the CSRF checks).

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts},
};

use super::{AppState, cookies, error::ApiError};
use crate::core::AccessClaims;

/// The caller proven by a valid access token of a live session.
pub struct Caller {
    pub claims: AccessClaims,
    /// Authenticated by cookie rather than by an `Authorization` header.
    pub via_cookie: bool,
}

impl Caller {
    pub fn user_id(&self) -> Result<i64, ApiError> {
        self.claims
            .sub
            .parse()
            .map_err(|_| ApiError::token_invalid())
    }
}

/// The bearer token of the request, if it carries one.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The access token of the request and whether it came from a cookie.
fn credentials(parts: &Parts, app: &AppState) -> Option<(String, bool)> {
    if let Some(token) = bearer(parts) {
        return Some((token.to_owned(), false));
    }
    if parts.headers.contains_key(header::AUTHORIZATION) {
        return None;
    }
    cookies::read(&parts.headers, cookies::names(app).access).map(|t| (t, true))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let malformed =
            parts.headers.contains_key(header::AUTHORIZATION) && bearer(parts).is_none();
        let Some((token, via_cookie)) = credentials(parts, app) else {
            if malformed {
                return Err(ApiError::token_invalid());
            }
            return Err(match super::principal::api_key(parts) {
                // Session-only operations (API keys, passwords, MFA) refuse API keys.
                Some(key) => super::principal::verified_key(app, key)
                    .await
                    .err()
                    .unwrap_or_else(|| {
                        ApiError::forbidden("API keys cannot be used for this operation")
                    }),
                None => ApiError::unauthorized(),
            });
        };
        let claims = app
            .verify_access_token(&token)
            .await
            .map_err(|_| ApiError::token_invalid())?;
        if via_cookie {
            cookies::check_csrf(app, &parts.method, &parts.headers, &claims.sid)?;
        }
        Ok(Caller { claims, via_cookie })
    }
}

/// A caller if the request carries an access token (header or cookie); invalid ones still fail.
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let has_header = parts.headers.contains_key(header::AUTHORIZATION);
        let has_cookie = cookies::read(&parts.headers, cookies::names(app).access).is_some();
        if !(has_header || has_cookie) {
            return Ok(MaybeCaller(None));
        }
        match Caller::from_request_parts(parts, app).await {
            Ok(caller) => Ok(MaybeCaller(Some(caller))),
            // An expired access cookie must not stop a logout by refresh cookie.
            Err(e) if !has_header && e.code == "TOKEN_INVALID" => Ok(MaybeCaller(None)),
            Err(e) => Err(e),
        }
    }
}
