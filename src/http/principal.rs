//! Who a request acts for, beyond the bearer `Caller`: a `Principal` may also be an API key
//! (`X-API-Key`, never a query string), and `Authorized<P>` is the one permission check of
//! the admin API: superuser, or a role holding `P`, limited to the key's scopes.

use std::marker::PhantomData;

use axum::{extract::FromRequestParts, http::request::Parts};

use super::{
    AppState,
    auth::{Caller, bearer},
    error::ApiError,
};
use crate::core::{Actor, ApiKeyGrant, perms};

pub const API_KEY_HEADER: &str = "x-api-key";

/// The API key of the request, if it carries one.
pub fn api_key(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(API_KEY_HEADER)?
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// A verified API key, or `TOKEN_INVALID`.
pub async fn verified_key(state: &AppState, key: &str) -> Result<ApiKeyGrant, ApiError> {
    state.authenticate_api_key(key).await.map_err(|e| match e {
        crate::core::CoreError::TokenInvalid => ApiError::token_invalid(),
        other => other.into(),
    })
}

/// A user acting through an access token (of a live session) or an API key.
pub struct Principal {
    pub user_id: i64,
    pub api_key: Option<ApiKeyGrant>,
}

impl Principal {
    /// What this principal may do.
    pub async fn actor(&self, state: &AppState) -> Result<Actor, ApiError> {
        let key = self
            .api_key
            .as_ref()
            .map(|k| (k.key_id.as_str(), k.scopes.as_slice()));
        state.actor(self.user_id, key).await.map_err(|e| match e {
            crate::core::CoreError::TokenInvalid => ApiError::token_invalid(),
            other => other.into(),
        })
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if bearer(parts).is_none()
            && let Some(key) = api_key(parts)
        {
            let grant = verified_key(state, key).await?;
            return Ok(Principal {
                user_id: grant.user_id,
                api_key: Some(grant),
            });
        }
        let caller = Caller::from_request_parts(parts, state).await?;
        Ok(Principal {
            user_id: caller.user_id()?,
            api_key: None,
        })
    }
}

/// A permission an `Authorized` extractor demands.
pub trait Permission {
    const NAME: &'static str;
}

macro_rules! permissions {
    ($($ty:ident = $name:expr;)*) => {$(
        pub struct $ty;
        impl Permission for $ty {
            const NAME: &'static str = $name;
        }
    )*};
}

permissions! {
    UsersRead = perms::USERS_READ;
    UsersWrite = perms::USERS_WRITE;
    RolesRead = perms::ROLES_READ;
    RolesWrite = perms::ROLES_WRITE;
    AuditRead = perms::AUDIT_READ;
    ClientsRead = perms::CLIENTS_READ;
    ClientsWrite = perms::CLIENTS_WRITE;
}

/// Proof that the caller holds `P`: 401 without credentials, 403 without the permission.
pub struct Authorized<P> {
    pub actor: Actor,
    _permission: PhantomData<P>,
}

impl<P: Permission> FromRequestParts<AppState> for Authorized<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let actor = principal.actor(state).await?;
        if !actor.can(P::NAME) {
            return Err(ApiError::forbidden(&format!(
                "This needs the permission `{}`",
                P::NAME
            )));
        }
        Ok(Authorized {
            actor,
            _permission: PhantomData,
        })
    }
}
