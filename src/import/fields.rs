//! The columns every format shares: username, email, password_hash, first_name, last_name,
//! is_active, is_superuser, date_joined, roles, and optionally id.

use serde_json::{Map, Value};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::core::ImportRecord;

pub fn record(map: &Map<String, Value>) -> Result<ImportRecord, String> {
    let username = text(map, "username")?.ok_or("username is missing")?;
    let password_hash = match text(map, "password_hash")? {
        Some(hash) => hash,
        None => text(map, "password")?.ok_or("password_hash is missing")?,
    };
    Ok(ImportRecord {
        id: integer(map, "id")?,
        username,
        email: text(map, "email")?.unwrap_or_default(),
        password_hash,
        first_name: text(map, "first_name")?.unwrap_or_default(),
        last_name: text(map, "last_name")?.unwrap_or_default(),
        is_active: flag(map, "is_active")?.unwrap_or(true),
        is_superuser: flag(map, "is_superuser")?.unwrap_or(false),
        date_joined: match map.get("date_joined") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(n.as_i64().ok_or("date_joined: not a unix time")?),
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(datetime(s).map_err(|m| format!("date_joined: {m}"))?),
            Some(_) => return Err("date_joined: not a date".into()),
        },
        roles: roles(map)?,
    })
}

fn text(map: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(format!("{name}: not text")),
    }
}

fn integer(map: &Map<String, Value>, name: &str) -> Result<Option<i64>, String> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or(format!("{name}: not an integer")),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{name}: not an integer")),
        Some(_) => Err(format!("{name}: not an integer")),
    }
}

fn flag(map: &Map<String, Value>, name: &str) -> Result<Option<bool>, String> {
    let bad = || format!("{name}: expected true or false");
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            _ => Err(bad()),
        },
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" | "t" | "1" | "yes" | "y" => Ok(Some(true)),
            "false" | "f" | "0" | "no" | "n" => Ok(Some(false)),
            _ => Err(bad()),
        },
        Some(_) => Err(bad()),
    }
}

/// A JSON list, or text separated by commas, semicolons, bars or spaces.
fn roles(map: &Map<String, Value>) -> Result<Option<Vec<String>>, String> {
    let roles: Vec<String> = match map.get("roles") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|r| {
                r.as_str()
                    .map(|s| s.trim().to_owned())
                    .ok_or("roles: not a list of names")
            })
            .collect::<Result<_, _>>()?,
        Some(Value::String(s)) => s
            .split([',', ';', '|', ' ', '\t'])
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(_) => return Err("roles: not a list of names".into()),
    };
    Ok((!roles.is_empty()).then_some(roles))
}

/// RFC 3339, Django's ISO 8601 (`2024-05-01T12:00:00.123Z`), the same with a space for
/// `T`, a naive date-time (read as UTC), or a date alone.
fn datetime(raw: &str) -> Result<i64, String> {
    let mut s = raw.trim().to_owned();
    if s.len() == 10 {
        s.push_str("T00:00:00");
    }
    if s.as_bytes().get(10) == Some(&b' ') {
        s.replace_range(10..11, "T");
    }
    let time_part = s.get(11..).unwrap_or("");
    let has_offset = time_part.ends_with(['Z', 'z']) || time_part.contains(['+', '-']);
    if !has_offset {
        s.push('Z');
    }
    OffsetDateTime::parse(&s, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|_| format!("`{raw}` is not a date-time like 2024-05-01T12:00:00Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times_in_the_usual_export_forms() {
        let at = 1_714_564_800; // 2024-05-01T12:00:00Z
        for s in [
            "2024-05-01T12:00:00Z",
            "2024-05-01T12:00:00.123Z",
            "2024-05-01T12:00:00.123456+00:00",
            "2024-05-01 12:00:00",
            "2024-05-01T14:00:00+02:00",
            "2024-05-01T12:00:00",
        ] {
            assert_eq!(datetime(s), Ok(at), "{s}");
        }
        assert_eq!(datetime("2024-05-01"), Ok(at - 12 * 3600));
        assert!(datetime("yesterday").is_err());
    }

    #[test]
    fn flags_and_roles() {
        let map: Map<String, Value> = serde_json::from_str(
            r#"{"username":"a","password_hash":"!","is_active":"no","is_superuser":1,"roles":"user, admin"}"#,
        )
        .unwrap();
        let r = record(&map).unwrap();
        assert!(!r.is_active && r.is_superuser);
        assert_eq!(r.roles, Some(vec!["user".into(), "admin".into()]));
        let bad: Map<String, Value> =
            serde_json::from_str(r#"{"username":"a","password_hash":"!","is_active":"maybe"}"#)
                .unwrap();
        assert_eq!(
            record(&bad).unwrap_err(),
            "is_active: expected true or false"
        );
    }
}
