//! Cookie mode for browsers: tokens in `HttpOnly; Secure; SameSite=Strict` cookies with the
//! `__Host-` prefix, a readable CSRF cookie bound to the session, and the checks that a
//! cookie-authenticated state-changing request must pass (CSRF token, and an origin that is
//! ours or explicitly allowed).

use axum::http::{HeaderMap, HeaderValue, Method, header};

use super::{AppState, error::ApiError};
use crate::{config::Transport, core::IssuedTokens};

pub struct CookieNames {
    pub access: &'static str,
    pub refresh: &'static str,
    pub csrf: &'static str,
}

const SECURE: CookieNames = CookieNames {
    access: "__Host-castellan_access",
    refresh: "__Host-castellan_refresh",
    csrf: "__Host-castellan_csrf",
};
/// Plain-http development only (`cookies.secure = false`).
const RELAXED: CookieNames = CookieNames {
    access: "castellan_access",
    refresh: "castellan_refresh",
    csrf: "castellan_csrf",
};

pub fn names(app: &AppState) -> &'static CookieNames {
    names_for(app.settings.cookies.secure)
}

/// The names with (`cookies.secure`) or without the `__Host-` prefix.
pub fn names_for(secure: bool) -> &'static CookieNames {
    if secure { &SECURE } else { &RELAXED }
}

/// Whether this exchange delivers tokens as cookies.
pub fn cookie_mode(app: &AppState, headers: &HeaderMap) -> bool {
    app.settings.tokens.transport == Transport::Cookie
        || headers
            .get("x-auth-mode")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cookie"))
}

/// The value of cookie `name`, if the request carries it.
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

fn cookie(
    app: &AppState,
    name: &str,
    value: &str,
    max_age: i64,
    http_only: bool,
) -> Option<HeaderValue> {
    let mut c = format!("{name}={value}; Path=/; Max-Age={max_age}; SameSite=Strict");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if app.settings.cookies.secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).ok()
}

/// `Set-Cookie` headers for freshly issued tokens.
pub fn issue(app: &AppState, issued: &IssuedTokens, headers: &mut HeaderMap) {
    let n = names(app);
    let refresh_age = app.settings.tokens.refresh_ttl.as_secs();
    let csrf = app.csrf_token(&issued.session_id);
    let cookies = [
        cookie(
            app,
            n.access,
            &issued.access.token,
            issued.access.expires_in,
            true,
        ),
        cookie(app, n.refresh, &issued.refresh_token, refresh_age, true),
        cookie(app, n.csrf, &csrf, refresh_age, false),
    ];
    for c in cookies.into_iter().flatten() {
        headers.append(header::SET_COOKIE, c);
    }
}

/// `Set-Cookie` headers that delete every Castellan cookie.
pub fn clear(app: &AppState, headers: &mut HeaderMap) {
    let n = names(app);
    for (name, http_only) in [(n.access, true), (n.refresh, true), (n.csrf, false)] {
        if let Some(c) = cookie(app, name, "", 0, http_only) {
            headers.append(header::SET_COOKIE, c);
        }
    }
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses a state-changing request from a browser context that is not ours: a
/// `Sec-Fetch-Site: cross-site` fetch or an `Origin` that is neither the public URL nor an
/// allowed CORS origin. Requests without either header (non-browser clients) pass.
pub fn check_origin(app: &AppState, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    if !changes_state(method) {
        return Ok(());
    }
    let allowed = |origin: &str| {
        origin == origin_of(&app.settings.server.public_url)
            || app
                .settings
                .cors
                .allowed_origins
                .iter()
                .any(|o| o == origin)
    };
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if let Some(origin) = origin
        && !allowed(origin)
    {
        return Err(ApiError::csrf_failed("Cross-origin request refused"));
    }
    let cross_site = headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site");
    if cross_site && !origin.is_some_and(allowed) {
        return Err(ApiError::csrf_failed("Cross-site request refused"));
    }
    Ok(())
}

/// For a request authenticated by cookie: the origin check, and `X-CSRF-Token` must equal
/// both the CSRF cookie and the session's token.
pub fn check_csrf(
    app: &AppState,
    method: &Method,
    headers: &HeaderMap,
    session_id: &str,
) -> Result<(), ApiError> {
    if !changes_state(method) {
        return Ok(());
    }
    check_origin(app, method, headers)?;
    let refused = || ApiError::csrf_failed("Missing or invalid CSRF token");
    let sent = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(refused)?;
    let cookie = read(headers, names(app).csrf).ok_or_else(refused)?;
    let expected = app.csrf_token(session_id);
    let same = |a: &str, b: &str| crate::core::secrets::same(a.as_bytes(), b.as_bytes());
    if same(sent, &cookie) && same(sent, &expected) {
        Ok(())
    } else {
        Err(refused())
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}
