//! The wire dialects Castellan speaks. Each route belongs to one; a failure on a route is
//! rendered in its dialect's shape, whichever layer produced it (extractor, handler,
//! method check or request timeout).

use axum::{http::Method, response::Response};
use serde_json::Value;

use super::{ApiError, envelope, simplejwt};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The native contract (and the operations endpoints).
    Native,
    /// djangorestframework-simplejwt's shapes.
    SimpleJwt,
    /// `{success, message, data}` envelopes.
    Envelope,
}

impl Dialect {
    /// The body of a failure in this dialect.
    pub fn failure_body(self, e: &ApiError, method: &Method) -> Value {
        match self {
            Dialect::Native => e.body(),
            Dialect::SimpleJwt => simplejwt::failure(e, method),
            Dialect::Envelope => envelope::failure(e),
        }
    }

    /// The whole failure response, with status-dependent headers.
    pub fn respond(self, e: &ApiError, method: &Method) -> Response {
        e.respond_with(self.failure_body(e, method))
    }

    /// Re-renders a native failure response for this dialect; other responses pass.
    pub fn rerender(self, response: Response, method: &Method) -> Response {
        if self == Dialect::Native {
            return response;
        }
        match response.extensions().get::<ApiError>() {
            Some(e) if e.code == "MFA_REQUIRED" || e.code == "EMAIL_NOT_VERIFIED" => {
                // These dialects cannot express a second step or a pending verification:
                // they refuse with their ordinary credential error (the native API offers the
                // step), and never show the MFA token.
                self.respond(
                    &ApiError::from(crate::core::CoreError::InvalidCredentials),
                    method,
                )
            }
            Some(e) => self.respond(e, method),
            None => response,
        }
    }
}
