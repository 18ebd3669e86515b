//! Typed fields beyond strings (lists, integers, booleans) and query/path parameters,
//! reported as `VALIDATION_ERROR`s like every other field.

use std::collections::HashMap;

use serde_json::Value;

use super::{error::ApiError, input::Fields};
use crate::domain::FieldErrors;

impl Fields {
    /// A list of strings (absent or null: `None`).
    pub fn string_list(&self, name: &str, errors: &mut FieldErrors) -> Option<Vec<String>> {
        match self.get(name)? {
            Value::Null => None,
            Value::Array(items) => {
                let strings: Option<Vec<String>> = items
                    .iter()
                    .map(|v| v.as_str().map(|s| s.trim().to_owned()))
                    .collect();
                if strings.is_none() {
                    errors.add(name, "Expected a list of strings.");
                }
                strings
            }
            _ => {
                errors.add(name, "Expected a list of strings.");
                None
            }
        }
    }

    pub fn integer(&self, name: &str, errors: &mut FieldErrors) -> Option<i64> {
        match self.get(name)? {
            Value::Null => None,
            v => {
                let n = v.as_i64();
                if n.is_none() {
                    errors.add(name, "A valid integer is required.");
                }
                n
            }
        }
    }

    pub fn boolean(&self, name: &str, errors: &mut FieldErrors) -> Option<bool> {
        match self.get(name)? {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            _ => {
                errors.add(name, "Must be a valid boolean.");
                None
            }
        }
    }
}

/// A whole-number query parameter within `range`, `default` when absent.
pub fn query_number(
    query: &HashMap<String, String>,
    name: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
    errors: &mut FieldErrors,
) -> i64 {
    match query.get(name).map(|v| v.trim().parse::<i64>()) {
        None => default,
        Some(Ok(n)) if range.contains(&n) => n,
        Some(_) => {
            errors.add(
                name,
                format!(
                    "Expected a whole number from {} to {}.",
                    range.start(),
                    range.end()
                ),
            );
            default
        }
    }
}

/// A numeric id from the path; anything else names no resource.
pub fn path_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}
