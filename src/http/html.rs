//! Headers of the HTML pages the server renders itself (the hosted sign-in pages and the API
//! docs): each under a Content-Security-Policy of its own that names only this origin, never
//! framed, never cached.

use axum::http::{HeaderMap, HeaderValue, header};

/// Marks `headers` as those of an HTML page that may load only what `policy` allows.
pub fn secure_page(headers: &mut HeaderMap, policy: &'static str) {
    let mut set = |name, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(header::CONTENT_TYPE, "text/html; charset=utf-8");
    set(header::CONTENT_SECURITY_POLICY, policy);
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::CACHE_CONTROL, "no-store");
}
