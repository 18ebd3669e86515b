//! Bearer authentication as an extractor.

use axum::{extract::FromRequestParts, http::request::Parts};

use super::{AppState, error::ApiError};
use crate::core::AccessClaims;

/// The caller proven by a valid access token of a live session.
pub struct Caller {
    pub claims: AccessClaims,
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
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = bearer(parts) else {
            return Err(match super::principal::api_key(parts) {
                // Session-only operations (API keys, passwords, MFA) refuse API keys.
                Some(key) => super::principal::verified_key(state, key)
                    .await
                    .err()
                    .unwrap_or_else(|| {
                        ApiError::forbidden("API keys cannot be used for this operation")
                    }),
                None => ApiError::unauthorized(),
            });
        };
        let claims = state
            .verify_access_token(token)
            .await
            .map_err(|_| ApiError::token_invalid())?;
        Ok(Caller { claims })
    }
}

/// A caller if the request carries credentials; invalid credentials still fail.
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            Ok(MaybeCaller(Some(
                Caller::from_request_parts(parts, state).await?,
            )))
        } else {
            Ok(MaybeCaller(None))
        }
    }
}
