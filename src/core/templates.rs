//! Mail templates: a subject, a plain-text and an HTML body per kind of mail. Built-in
//! defaults; any file `KIND.subject`, `KIND.txt` or `KIND.html` in `mail.templates_dir`
//! replaces its default. Placeholders: `{{username}}`, `{{link}}`, `{{token}}`,
//! `{{expires_minutes}}`; values are HTML-escaped in HTML bodies.

use std::{collections::HashMap, path::Path};

use serde::{Deserialize, Serialize};

/// The kinds of mail Castellan sends.
pub const VERIFY_EMAIL: &str = "verify_email";
pub const RESET_PASSWORD: &str = "reset_password";

const DEFAULTS: &[(&str, &str, &str, &str)] = &[
    (
        VERIFY_EMAIL,
        "Confirm your email address",
        "Hello {{username}},\n\nplease confirm your email address by opening this link:\n\n{{link}}\n\n\
         The link works once and expires in {{expires_minutes}} minutes. If you did not create \
         an account, ignore this mail.\n",
        "<p>Hello {{username}},</p><p>please confirm your email address by opening this link:</p>\
         <p><a href=\"{{link}}\">{{link}}</a></p><p>The link works once and expires in \
         {{expires_minutes}} minutes. If you did not create an account, ignore this mail.</p>",
    ),
    (
        RESET_PASSWORD,
        "Reset your password",
        "Hello {{username}},\n\nsomeone asked to reset the password of your account. To choose a \
         new password, open this link:\n\n{{link}}\n\nThe link works once and expires in \
         {{expires_minutes}} minutes. If it was not you, ignore this mail: your password stays \
         as it is.\n",
        "<p>Hello {{username}},</p><p>someone asked to reset the password of your account. To \
         choose a new password, open this link:</p><p><a href=\"{{link}}\">{{link}}</a></p><p>The \
         link works once and expires in {{expires_minutes}} minutes. If it was not you, ignore \
         this mail: your password stays as it is.</p>",
    ),
];

struct Template {
    subject: String,
    text: String,
    html: String,
}

/// A rendered mail, as stored in the outbox until it is delivered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenderedMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct Templates {
    by_kind: HashMap<&'static str, Template>,
}

impl Templates {
    /// The defaults, each overridden by its file in `dir` when present.
    pub fn load(dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut by_kind = HashMap::new();
        for (kind, subject, text, html) in DEFAULTS {
            let read = |ext: &str, default: &str| -> anyhow::Result<String> {
                let Some(path) = dir.map(|d| d.join(format!("{kind}.{ext}"))) else {
                    return Ok(default.to_owned());
                };
                if !path.exists() {
                    return Ok(default.to_owned());
                }
                std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("mail template {}: {e}", path.display()))
            };
            let template = Template {
                subject: read("subject", subject)?.trim().to_owned(),
                text: read("txt", text)?,
                html: read("html", html)?,
            };
            by_kind.insert(*kind, template);
        }
        Ok(Self { by_kind })
    }

    pub fn render(&self, kind: &str, to: &str, values: &[(&str, &str)]) -> Option<RenderedMail> {
        let t = self.by_kind.get(kind)?;
        Some(RenderedMail {
            to: to.to_owned(),
            subject: fill(&t.subject, values, |v| v.replace(['\r', '\n'], " ")),
            text: fill(&t.text, values, str::to_owned),
            html: fill(&t.html, values, escape_html),
        })
    }
}

fn fill(template: &str, values: &[(&str, &str)], escape: impl Fn(&str) -> String) -> String {
    values
        .iter()
        .fold(template.to_owned(), |out, (name, value)| {
            out.replace(&format!("{{{{{name}}}}}"), &escape(value))
        })
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_escapes() {
        let t = Templates::load(None).unwrap();
        let m = t
            .render(
                VERIFY_EMAIL,
                "a@example.com",
                &[
                    ("username", "<b>"),
                    ("link", "https://x/v?token=abc"),
                    ("expires_minutes", "5"),
                ],
            )
            .unwrap();
        assert!(m.text.contains("https://x/v?token=abc") && m.text.contains("<b>"));
        assert!(m.html.contains("&lt;b&gt;") && !m.html.contains("<b>"));
        assert!(!m.text.contains("{{"));
    }

    #[test]
    fn files_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("reset_password.subject"),
            "Custom {{username}}\n",
        )
        .unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let m = t
            .render(RESET_PASSWORD, "a@b.c", &[("username", "ann")])
            .unwrap();
        assert_eq!(m.subject, "Custom ann");
        assert!(m.text.contains("reset the password"));
    }
}
