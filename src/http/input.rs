//! Request bodies: JSON objects, or form-encoded where OAuth-style clients send forms.
//! Limits and content types are enforced here, before any handler work.

use axum::{
    extract::{FromRequest, Request},
    http::{StatusCode, header},
};
use http_body_util::BodyExt;
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::domain::{FieldErrors, Secret};

pub const BODY_LIMIT: usize = 64 * 1024;

/// A JSON object body (an empty body reads as `{}`).
pub struct Fields(pub Map<String, Value>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }
}

/// Like `Fields`, also accepting `application/x-www-form-urlencoded`.
pub struct FormOrJson(pub Fields);

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        read(req, false).await.map(Fields)
    }
}

impl<S: Send + Sync> FromRequest<S> for FormOrJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        read(req, true).await.map(|m| FormOrJson(Fields(m)))
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        "Request body exceeds 65536 bytes",
    )
}

async fn read(req: Request, allow_form: bool) -> Result<Map<String, Value>, ApiError> {
    let headers = req.headers();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A body too large even to drain is refused unread.
    if declared.is_some_and(|n| n > (BODY_LIMIT + DRAIN_LIMIT) as u64) {
        return Err(too_large());
    }
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let bytes = collect_limited(req.into_body()).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match media.as_deref() {
        Some("application/json") => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(ApiError::bad_request("Request body must be a JSON object")),
            Err(_) => Err(ApiError::bad_request("Malformed JSON in request body")),
        },
        Some("application/x-www-form-urlencoded") if allow_form => {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                .map_err(|_| ApiError::bad_request("Malformed form body"))?;
            Ok(pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect())
        }
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            if allow_form {
                "Content-Type must be application/json or application/x-www-form-urlencoded"
            } else {
                "Content-Type must be application/json"
            },
        )),
    }
}

/// Past the limit, this much more is read and discarded before answering 413: a client still
/// sending its body would otherwise see the connection reset instead of the answer.
const DRAIN_LIMIT: usize = 1024 * 1024;

/// Reads and drops a body that will not be used (bounded), so that answering early does not
/// make the server close a keep-alive connection under a client still sending.
pub async fn discard(body: axum::body::Body) {
    let _ = collect_limited(body).await;
}

async fn collect_limited(mut body: axum::body::Body) -> Result<Vec<u8>, ApiError> {
    let unreadable = || ApiError::bad_request("Request body could not be read");
    let mut bytes = Vec::new();
    let mut over_by: Option<usize> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| unreadable())?.into_data() else {
            continue;
        };
        match over_by.as_mut() {
            Some(drained) => {
                *drained += data.len();
                if *drained > DRAIN_LIMIT {
                    break;
                }
            }
            None if bytes.len() + data.len() > BODY_LIMIT => over_by = Some(0),
            None => bytes.extend_from_slice(&data),
        }
    }
    match over_by {
        Some(_) => Err(too_large()),
        None => Ok(bytes),
    }
}

/// How a text field is read.
#[derive(Clone, Copy)]
pub enum Text {
    /// Leading and trailing white space is dropped (names, emails).
    Trimmed,
    /// Kept exactly (passwords, tokens).
    Exact,
}

impl Fields {
    /// A string field that must be present and non-blank; numbers are read as text.
    pub fn required(&self, name: &str, mode: Text, errors: &mut FieldErrors) -> Option<String> {
        match self.text(name, mode, errors) {
            Some(s) if s.is_empty() => {
                errors.add(name, FieldErrors::BLANK);
                None
            }
            Some(s) => Some(s),
            None if !errors.contains(name) => {
                errors.add(name, FieldErrors::REQUIRED);
                None
            }
            None => None,
        }
    }

    /// A string field that may be absent or null.
    pub fn optional(&self, name: &str, mode: Text, errors: &mut FieldErrors) -> Option<String> {
        self.text(name, mode, errors)
    }

    fn text(&self, name: &str, mode: Text, errors: &mut FieldErrors) -> Option<String> {
        let raw = match self.0.get(name)? {
            Value::Null => return None,
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => {
                errors.add(name, FieldErrors::NOT_A_STRING);
                return None;
            }
        };
        Some(match mode {
            Text::Trimmed => raw.trim().to_owned(),
            Text::Exact => raw,
        })
    }

    /// The `username` and `password` of a login, or the errors of the missing ones.
    pub fn credentials(&self) -> Result<(String, Secret), FieldErrors> {
        let mut errors = FieldErrors::default();
        let username = self.required("username", Text::Trimmed, &mut errors);
        let password = self.required("password", Text::Exact, &mut errors);
        match (username, password) {
            (Some(username), Some(password)) => Ok((username, Secret::new(password))),
            _ => Err(errors),
        }
    }

    /// One required token-like field, kept exactly.
    pub fn token(&self, name: &str) -> Result<String, FieldErrors> {
        let mut errors = FieldErrors::default();
        self.required(name, Text::Exact, &mut errors).ok_or(errors)
    }

    /// A boolean flag: JSON `true`, or "true"/"1" from a form.
    pub fn flag(&self, name: &str) -> bool {
        match self.0.get(name) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => matches!(s.as_str(), "true" | "1"),
            _ => false,
        }
    }
}
