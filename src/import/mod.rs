//! Reading user exports of other systems into import rows: JSON lines, CSV, and Django's
//! `manage.py dumpdata auth.user`. A record that cannot be read becomes a rejected row
//! (with its place in the file), so one run reports every problem at once.

mod django;
mod fields;

use std::path::Path;

use crate::core::ImportRow;

/// The export formats `castellan import users` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// A header row naming the columns, then one user per row.
    Csv,
    /// `manage.py dumpdata auth.user` (a JSON list of `{"model","pk","fields"}`).
    Django,
}

impl Format {
    /// Guesses from the file name, then from the first character of the content.
    pub fn detect(path: &Path, content: &str) -> Self {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let first = content.trim_start().chars().next();
        match (ext.as_deref(), first) {
            (Some("jsonl" | "ndjson"), _) => Format::Jsonl,
            (Some("csv"), _) => Format::Csv,
            (_, Some('[')) => Format::Django,
            (_, Some('{')) => Format::Jsonl,
            _ => Format::Csv,
        }
    }
}

/// Reads every record of `content`. A file-level problem (not CSV, not a JSON list) is an
/// error; a record-level one is a rejected row.
pub fn read(format: Format, content: &str) -> anyhow::Result<Vec<ImportRow>> {
    match format {
        Format::Jsonl => Ok(jsonl(content)),
        Format::Csv => csv(content),
        Format::Django => django::read(content),
    }
}

fn jsonl(content: &str) -> Vec<ImportRow> {
    content
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let record = match serde_json::from_str::<serde_json::Value>(line) {
                Ok(serde_json::Value::Object(map)) => fields::record(&map),
                Ok(_) => Err("not a JSON object".into()),
                Err(e) => Err(format!("not valid JSON ({e})")),
            };
            ImportRow {
                locator: format!("line {}", i + 1),
                record,
            }
        })
        .collect()
}

fn csv(content: &str) -> anyhow::Result<Vec<ImportRow>> {
    let mut reader = ::csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(content.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| anyhow::anyhow!("the CSV header row cannot be read: {e}"))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if !headers.iter().any(|h| h == "username") {
        anyhow::bail!("the CSV header row has no `username` column");
    }
    let mut rows = Vec::new();
    for (i, result) in reader.records().enumerate() {
        let line = result
            .as_ref()
            .ok()
            .and_then(|r| r.position())
            .map_or(i + 2, |p| p.line() as usize);
        let record = match result {
            Ok(values) => {
                let map = headers
                    .iter()
                    .zip(values.iter())
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(h, v)| (h.clone(), serde_json::Value::String(v.to_owned())))
                    .collect();
                fields::record(&map)
            }
            Err(e) => Err(format!("not a valid CSV row ({e})")),
        };
        rows.push(ImportRow {
            locator: format!("line {line}"),
            record,
        });
    }
    Ok(rows)
}
