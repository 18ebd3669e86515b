//! The hosted pages: server-rendered HTML that works without JavaScript, under a strict
//! Content-Security-Policy. `oidc.templates_dir` may replace any page; `{{name}}` is
//! replaced by an HTML-escaped value and `{{{name}}}` by prepared markup.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::http::{AppState, html::secure_page};

const LOGIN: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in</title><link rel="stylesheet" href="{{css}}"></head>
<body><main><h1>Sign in</h1><p>to continue to <strong>{{client}}</strong></p>{{{error}}}
<form method="post" action="{{action}}">
<input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="q" value="{{q}}">
<label for="username">Username or email</label><input id="username" name="username" autocomplete="username" required value="{{login_hint}}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>{{{external}}}</main></body></html>"#;

const MFA: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Two-step verification</title><link rel="stylesheet" href="{{css}}"></head>
<body><main><h1>Two-step verification</h1>{{{error}}}
<form method="post" action="{{action}}">
<input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="q" value="{{q}}"><input type="hidden" name="mfa_token" value="{{mfa_token}}">
<label for="code">Code from your authenticator app</label><input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required>
<button type="submit">Verify</button></form></main></body></html>"#;

const CONSENT: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Allow access</title><link rel="stylesheet" href="{{css}}"></head>
<body><main><h1>Allow access?</h1><p><strong>{{client}}</strong> asks for: {{scope}}</p>
<form method="post" action="{{action}}">
<input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="q" value="{{q}}">
<button type="submit" name="decision" value="allow">Allow</button> <button type="submit" name="decision" value="deny">Deny</button></form></main></body></html>"#;

const MESSAGE: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{{title}}</title><link rel="stylesheet" href="{{css}}"></head>
<body><main><h1>{{title}}</h1><p role="alert">{{message}}</p></main></body></html>"#;

const CSS: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}\
main{max-width:24rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:.5rem;box-shadow:0 1px 4px #0002}\
label{display:block;margin-top:1rem;font-weight:600}input{width:100%;box-sizing:border-box;padding:.6rem;margin-top:.3rem;border:1px solid #8a8f99;border-radius:.3rem}\
button{margin-top:1.2rem;padding:.6rem 1.2rem;border:0;border-radius:.3rem;background:#1f4fd1;color:#fff;font-size:1rem}\
.error{color:#a00;font-weight:600}";

/// A "Sign in with …" link on the login page.
pub struct ExternalSignIn {
    pub label: String,
    pub href: String,
}

/// The configured upstream identity providers, each starting a federated login that comes
/// back to this authorization request (`resume` is its query string).
pub fn external_sign_ins(app: &AppState, resume: &str) -> Vec<ExternalSignIn> {
    // Federated logins live under the native API; without it there is nothing to offer.
    let Some(prefix) = app.settings.api.native.prefixes.first() else {
        return Vec::new();
    };
    let back = app.hosted_resume_url(resume);
    app.federation_providers()
        .into_iter()
        .map(|(id, name)| {
            let query =
                serde_urlencoded::to_string([("redirect", back.as_str())]).unwrap_or_default();
            ExternalSignIn {
                label: format!("Sign in with {name}"),
                href: format!("{prefix}/federation/{id}/start?{query}"),
            }
        })
        .collect()
}

pub fn external_markup(app: &AppState, resume: &str) -> String {
    let links: Vec<String> = external_sign_ins(app, resume)
        .iter()
        .map(|e| {
            format!(
                "<li><a href=\"{}\">{}</a></li>",
                escape(&e.href),
                escape(&e.label)
            )
        })
        .collect();
    if links.is_empty() {
        String::new()
    } else {
        format!("<ul class=\"external\">{}</ul>", links.join(""))
    }
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn builtin(name: &str) -> &'static str {
    match name {
        "login" => LOGIN,
        "mfa" => MFA,
        "consent" => CONSENT,
        _ => MESSAGE,
    }
}

/// Renders page `name` with `values`; `raw` values are inserted unescaped.
pub async fn render(
    app: &AppState,
    status: StatusCode,
    name: &str,
    values: &[(&str, &str)],
    raw: &[(&str, &str)],
) -> Response {
    let custom = match &app.settings.oidc.templates_dir {
        Some(dir) => tokio::fs::read_to_string(dir.join(format!("{name}.html")))
            .await
            .ok(),
        None => None,
    };
    let mut html = custom.unwrap_or_else(|| builtin(name).to_owned());
    let css = format!("{}/hosted.css", app.settings.oidc.prefix);
    for (key, value) in raw {
        html = html.replace(&format!("{{{{{{{key}}}}}}}"), value);
    }
    for (key, value) in values.iter().chain([("css", css.as_str())].iter()) {
        html = html.replace(&format!("{{{{{key}}}}}"), &escape(value));
    }
    let mut response = (status, html).into_response();
    secure_page(response.headers_mut(), POLICY);
    response
}

/// The hosted pages load their stylesheet and nothing else; no script runs on them.
const POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A page that explains a refusal; used whenever redirecting back would be unsafe.
pub async fn error_page(app: &AppState, status: StatusCode, message: &str) -> Response {
    render(
        app,
        status,
        "error",
        &[("title", "Cannot continue"), ("message", message)],
        &[],
    )
    .await
}

#[utoipa::path(
    get,
    path = "/hosted.css",
    summary = "The hosted pages' stylesheet",
    responses(
        (status = 200, description = "CSS", body = String, content_type = "text/css"),
    )
)]
pub async fn stylesheet() -> Response {
    let mut response = CSS.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css"));
    response
}
