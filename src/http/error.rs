//! The one error type of the HTTP layer. It renders in the native contract shape; a route
//! of another dialect has it re-rendered in that dialect's shape (see `dialect`).

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::context::current_request_id;
use crate::{
    core::{CoreError, UpstreamFailure, rfc3339},
    domain::FieldErrors,
    store::StoreError,
};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Box<Value>>,
    pub retry_after: Option<u64>,
    /// `WWW-Authenticate` value for 401s.
    pub challenge: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
            challenge: None,
        }
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    pub fn validation(errors: &FieldErrors) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Invalid input parameters",
        );
        e.details = Some(Box::new(errors.to_json()));
        e
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    pub fn unauthorized() -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "Authentication credentials were not provided",
        );
        e.challenge = Some("Bearer");
        e
    }

    pub fn token_invalid() -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "TOKEN_INVALID",
            "Token is invalid or expired",
        );
        e.challenge = Some("Bearer error=\"invalid_token\"");
        e
    }

    pub fn forbidden(message: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", "Resource not found")
    }

    pub fn unavailable(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "Service temporarily unavailable",
        );
        e.retry_after = Some(retry_after);
        e
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "Too many requests",
        );
        e.retry_after = Some(retry_after);
        e
    }

    pub fn csrf_failed(message: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "CSRF_FAILED", message)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "Internal server error",
        )
    }

    /// The native body: `{"status":"error","error":{code,message,details,timestamp,request_id}}`.
    pub fn body(&self) -> Value {
        json!({
            "status": "error",
            "error": {
                "code": self.code,
                "message": self.message,
                "details": self.details,
                "timestamp": rfc3339(unix_now()),
                "request_id": current_request_id(),
            }
        })
    }

    /// Adds the status-dependent headers (`Retry-After`, `WWW-Authenticate`) to any body.
    pub fn respond_with(&self, body: Value) -> Response {
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(challenge) = self.challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl IntoResponse for ApiError {
    /// The native body; the error itself travels along so that a dialect can re-render it.
    fn into_response(self) -> Response {
        let mut response = self.respond_with(self.body());
        response.extensions_mut().insert(self);
        response
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_CREDENTIALS",
                "Invalid username or password",
            ),
            CoreError::TokenInvalid | CoreError::TokenExpired => Self::token_invalid(),
            CoreError::Validation(errors) => Self::validation(&errors),
            CoreError::UserExists(errors) => {
                let mut e = Self::new(StatusCode::CONFLICT, "USER_EXISTS", "User already exists");
                e.details = Some(Box::new(errors.to_json()));
                e
            }
            CoreError::NotFound => Self::not_found(),
            CoreError::MfaRequired { mfa_token } => {
                let mut e = Self::new(
                    StatusCode::UNAUTHORIZED,
                    "MFA_REQUIRED",
                    "A second factor is required",
                );
                e.details = Some(Box::new(json!({"mfa_token": mfa_token.expose()})));
                e
            }
            CoreError::EmailNotVerified => Self::new(
                StatusCode::FORBIDDEN,
                "EMAIL_NOT_VERIFIED",
                "The email address must be verified before logging in",
            ),
            CoreError::InvalidCode => Self::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_MFA_CODE",
                "The code is invalid or was already used",
            ),
            CoreError::Forbidden(message) => Self::forbidden(message),
            CoreError::Conflict { code, message } => Self::new(StatusCode::CONFLICT, code, message),
            CoreError::Upstream(failure) => {
                let status = match failure {
                    UpstreamFailure::Unavailable(_) => StatusCode::BAD_GATEWAY,
                    _ => StatusCode::BAD_REQUEST,
                };
                Self::new(status, failure.api_code(), failure.message())
            }
            CoreError::Overloaded => Self::unavailable(1),
            CoreError::RateLimited { retry_after } => Self::rate_limited(retry_after),
            CoreError::Store(StoreError::Unavailable(cause)) => {
                tracing::error!(request_id = %current_request_id(), error = %cause, "database unavailable");
                Self::unavailable(5)
            }
            CoreError::Store(cause) => {
                tracing::error!(request_id = %current_request_id(), error = %cause, "store error");
                Self::internal()
            }
            CoreError::Internal(cause) => {
                tracing::error!(request_id = %current_request_id(), error = %cause, "internal error");
                Self::internal()
            }
        }
    }
}
