//! Reading a registration body, shared by every surface that registers users.

use serde_json::Value;

use super::input::{Fields, Text};
use crate::{
    core::{Core, Registration},
    domain::{Email, FieldErrors, Username},
};

/// Whether a surface insists on an email address.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum EmailRule {
    Required,
    Optional,
}

/// The registration fields, checked in `order` so that errors list fields the way the
/// surface declares them. Names longer than 150 characters are refused (Django's limit).
pub fn read_registration(
    app: &Core,
    body: &Fields,
    order: &[&str],
    email_rule: EmailRule,
) -> Result<Registration, FieldErrors> {
    let mut errors = FieldErrors::default();
    // The password must not equal the username or email, whichever order they come in.
    let related: Vec<String> = ["username", "email"]
        .iter()
        .filter_map(|f| body.get(f).and_then(Value::as_str))
        .map(|s| s.trim().to_owned())
        .collect();
    let related: Vec<&str> = related.iter().map(String::as_str).collect();
    let (mut username, mut email, mut password) = (None, None, None);
    let (mut first_name, mut last_name) = (String::new(), String::new());
    for &field in order {
        match field {
            "username" => {
                username = body
                    .required(field, Text::Trimmed, &mut errors)
                    .and_then(|u| Username::parse(&u).map_err(|m| errors.add(field, m)).ok());
            }
            "email" => {
                let raw = match email_rule {
                    EmailRule::Required => body.required(field, Text::Trimmed, &mut errors),
                    EmailRule::Optional => body
                        .optional(field, Text::Trimmed, &mut errors)
                        .filter(|e| !e.is_empty()),
                };
                email = raw.and_then(|e| Email::parse(&e).map_err(|m| errors.add(field, m)).ok());
            }
            "password" => {
                password = body
                    .required(field, Text::Exact, &mut errors)
                    .and_then(|p| {
                        app.new_password(&p, &related)
                            .map_err(|m| errors.add(field, m))
                            .ok()
                    });
            }
            "first_name" | "last_name" => {
                let value = body
                    .optional(field, Text::Trimmed, &mut errors)
                    .unwrap_or_default();
                if value.chars().count() > 150 {
                    errors.add(field, "Ensure this field has no more than 150 characters.");
                }
                if field == "first_name" {
                    first_name = value;
                } else {
                    last_name = value;
                }
            }
            _ => {}
        }
    }
    let email_ok = email.is_some() || email_rule == EmailRule::Optional;
    match (username, password) {
        (Some(username), Some(password)) if errors.is_empty() && email_ok => Ok(Registration {
            username,
            email,
            password,
            first_name,
            last_name,
            is_superuser: false,
            roles: vec!["user".into()],
        }),
        _ => Err(errors),
    }
}
