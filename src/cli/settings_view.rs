//! `castellan config` and `castellan check`: the effective settings, with secrets masked.

use serde_json::Value;

use crate::config::Settings;

const MASK: &str = "********";

/// Settings whose values are secrets, wherever they appear.
const SECRET_KEYS: [&str; 5] = [
    "secret",
    "legacy_hs256_secret",
    "client_secret",
    "token",
    "password",
];

/// The effective settings as TOML (usable as a configuration file), secrets masked.
pub fn masked_toml(settings: &Settings) -> anyhow::Result<String> {
    let mut value = serde_json::to_value(settings)?;
    mask(&mut value);
    Ok(toml::to_string(&value)?)
}

/// Masks secret values and URL passwords, and drops unset (null) values, which TOML lacks.
fn mask(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(s) if SECRET_KEYS.contains(&key.as_str()) && !s.is_empty() => {
                        *s = MASK.into();
                    }
                    Value::String(s) if key == "url" || key.ends_with("_url") => {
                        *s = without_password(s);
                    }
                    other => mask(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask),
        _ => {}
    }
}

/// `scheme://user:password@host/…` with the password masked.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:{MASK}{}", &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_masked_and_the_rest_kept() {
        assert_eq!(
            without_password("postgres://app:s3cret@db:5432/castellan?sslmode=require"),
            "postgres://app:********@db:5432/castellan?sslmode=require"
        );
        assert_eq!(without_password("redis://db:6379"), "redis://db:6379");
        assert_eq!(
            without_password("sqlite://castellan.db"),
            "sqlite://castellan.db"
        );
    }
}
