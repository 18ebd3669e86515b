//! `manage.py dumpdata auth.user`: `[{"model":"auth.user","pk":1,"fields":{…}}, …]`. The
//! primary key is kept as the user id, so tokens that name `user_id` still resolve.

use serde_json::Value;

use super::fields;
use crate::core::ImportRow;

pub fn read(content: &str) -> anyhow::Result<Vec<ImportRow>> {
    let list: Vec<Value> = serde_json::from_str(content)
        .map_err(|e| anyhow::anyhow!("not a Django dumpdata export (a JSON list): {e}"))?;
    Ok(list
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let pk = item.get("pk").map(Value::to_string);
            let locator = match &pk {
                Some(pk) => format!("record {} (pk {pk})", i + 1),
                None => format!("record {}", i + 1),
            };
            ImportRow {
                locator,
                record: user(item),
            }
        })
        .collect())
}

fn user(item: &Value) -> Result<crate::core::ImportRecord, String> {
    let model = item.get("model").and_then(Value::as_str).unwrap_or("");
    // auth.user, or a custom user model such as accounts.user
    if model.rsplit('.').next() != Some("user") {
        return Err(format!(
            "model `{model}` is not a user model (export with `manage.py dumpdata auth.user`)"
        ));
    }
    let Some(Value::Object(source)) = item.get("fields") else {
        return Err("no `fields` object".into());
    };
    let mut map = source.clone();
    if let Some(pk) = item.get("pk") {
        map.insert("id".into(), pk.clone());
    }
    if let Some(password) = map.remove("password") {
        map.insert("password_hash".into(), password);
    }
    fields::record(&map)
}
