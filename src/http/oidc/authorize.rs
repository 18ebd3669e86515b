//! The authorization endpoint and the hosted pages behind it: login, TOTP step, consent,
//! and RP-initiated logout. An unknown client or redirect URI gets an error page, never a
//! redirect; every other refusal goes back to the client's redirect URI.
// A refusal here is the finished answer (a page, a redirect or an RFC 6749 body), made
// once per request; boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;

use axum::{
    extract::{Query, RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::pages::{error_page, external_markup, render};
use crate::http::openapi::schemas as doc;
use crate::{
    core::{CodeRequest, CoreError, OAuthClient, SecondFactor, secrets},
    domain::Secret,
    http::{AppState, Client, cookies, input::FormOrJson},
    store::{BrowserSessionRow, Revoke},
};

const SSO_COOKIE: &str = "castellan_sso";
const CSRF_COOKIE: &str = "castellan_oidc_csrf";

/// A validated authorization request.
struct AuthRequest {
    client: OAuthClient,
    redirect_uri: String,
    scope: String,
    state: Option<String>,
    nonce: Option<String>,
    challenge: Option<String>,
    prompt: Vec<String>,
    max_age: Option<i64>,
    login_hint: String,
    /// The original query, carried through the hosted forms.
    raw: String,
}

fn parse_query(raw: &str) -> HashMap<String, String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw).unwrap_or_default();
    let mut map = HashMap::new();
    for (k, v) in pairs {
        map.entry(k).or_insert(v);
    }
    map
}

fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let sep = if uri.contains('?') { '&' } else { '?' };
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    format!("{uri}{sep}{query}")
}

fn redirect_error(r: &AuthRequest, error: &str, description: &str) -> Response {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(state) = &r.state {
        params.push(("state", state));
    }
    redirect(&with_query(&r.redirect_uri, &params))
}

/// Checks an authorization request in the order RFC 6749 section 4.1.2.1 asks for.
async fn validate(app: &AppState, raw: &str) -> Result<AuthRequest, Response> {
    let q = parse_query(raw);
    let get = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
    let Some(client_id) = get("client_id") else {
        return Err(error_page(
            app,
            StatusCode::BAD_REQUEST,
            "The request names no client_id.",
        )
        .await);
    };
    let client = match app.client(&client_id).await {
        Ok(c) => c,
        Err(CoreError::NotFound) => {
            return Err(error_page(app, StatusCode::BAD_REQUEST, "Unknown client.").await);
        }
        Err(e) => return Err(crate::http::ApiError::from(e).into_response()),
    };
    let redirect_uri = get("redirect_uri").unwrap_or_default();
    if !client.has_redirect_uri(&redirect_uri) {
        return Err(error_page(
            app,
            StatusCode::BAD_REQUEST,
            "The redirect_uri is not registered for this client.",
        )
        .await);
    }
    let max_age = get("max_age").map(|m| m.parse::<i64>().ok().filter(|n| *n >= 0));
    let r = AuthRequest {
        scope: get("scope").unwrap_or_else(|| "openid".into()),
        state: get("state"),
        nonce: get("nonce"),
        challenge: get("code_challenge"),
        prompt: get("prompt")
            .unwrap_or_default()
            .split(' ')
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect(),
        max_age: max_age.flatten(),
        login_hint: get("login_hint").unwrap_or_default(),
        raw: raw.to_owned(),
        client,
        redirect_uri,
    };
    let refuse = |e, d| Err(redirect_error(&r, e, d));
    if get("response_type").as_deref() != Some("code") {
        return refuse(
            "unsupported_response_type",
            "Only response_type=code is supported",
        );
    }
    if !r.client.allows_grant("authorization_code") {
        return refuse(
            "unauthorized_client",
            "The client may not use the authorization code flow",
        );
    }
    if !r.client.allows_scopes(&r.scope) {
        return refuse("invalid_scope", "The client may not request this scope");
    }
    if max_age.is_some_and(|m| m.is_none()) {
        return refuse("invalid_request", "max_age must be a non-negative integer");
    }
    match (&r.challenge, get("code_challenge_method").as_deref()) {
        (Some(c), Some("S256")) if c.len() == 43 => {}
        (Some(_), Some("S256")) => {
            return refuse("invalid_request", "code_challenge must be 43 characters");
        }
        (Some(_), _) | (None, Some(_)) => {
            return refuse(
                "invalid_request",
                "PKCE needs code_challenge_method=S256; plain is refused",
            );
        }
        (None, None) if r.client.public => {
            return refuse("invalid_request", "Public clients must use PKCE (S256)");
        }
        (None, None) => {}
    }
    if r.prompt.iter().any(|p| p == "none") && r.prompt.len() > 1 {
        return refuse("invalid_request", "prompt=none cannot be combined");
    }
    Ok(r)
}

fn cookie_header(app: &AppState, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if app.settings.server.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

async fn sso(app: &AppState, headers: &HeaderMap) -> Option<(String, BrowserSessionRow)> {
    let token = cookies::read(headers, SSO_COOKIE)?;
    let row = app.browser_session(&token).await.ok()??;
    Some((token, row))
}

#[utoipa::path(
    get,
    path = "/authorize",
    summary = "Authorization endpoint (OAuth 2.0 authorization code flow)",
    params(("response_type" = String, Query, description = "`code`"), ("client_id" = String, Query, description = "The client"), ("redirect_uri" = String, Query, description = "One of the client's redirect URIs"), ("scope" = Option<String>, Query, description = "Space-separated scopes"), ("state" = Option<String>, Query, description = "Echoed back"), ("nonce" = Option<String>, Query, description = "Put into the ID token"), ("code_challenge" = Option<String>, Query, description = "PKCE (S256); required for public clients"), ("code_challenge_method" = Option<String>, Query, description = "`S256`"), ("prompt" = Option<String>, Query, description = "`none`, `login` or `consent`"), ("max_age" = Option<i64>, Query, description = "Seconds since the last login"), ("login_hint" = Option<String>, Query, description = "Prefills the username")),
    responses(
        (status = 303, description = "Back to the client with `code` and `state`, or with an error"),
        (status = 200, description = "The hosted login or consent page", body = String, content_type = "text/html"),
        (status = 400, description = "An error page: unknown client or redirect URI", body = String, content_type = "text/html"),
    )
)]
pub async fn authorize(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let r = match validate(&app, raw.as_deref().unwrap_or_default()).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let session = sso(&app, &headers).await.map(|(_, s)| s);
    proceed(&app, &headers, &r, session, false, false).await
}

/// Decides the next step: login page, consent page, or the redirect with a code.
async fn proceed(
    app: &AppState,
    headers: &HeaderMap,
    r: &AuthRequest,
    session: Option<BrowserSessionRow>,
    fresh_login: bool,
    consented: bool,
) -> Response {
    let now = app.clock.now();
    let prompt = |p: &str| r.prompt.iter().any(|x| x == p);
    let stale = |s: &BrowserSessionRow| r.max_age.is_some_and(|m| now - s.auth_time > m);
    let session = session.filter(|s| fresh_login || !(prompt("login") || stale(s)));
    let Some(session) = session else {
        if prompt("none") {
            return redirect_error(r, "login_required", "The user is not signed in");
        }
        return login_page(app, headers, r, StatusCode::OK, None).await;
    };
    let needs_consent = !r.client.first_party
        && (!consented
            && (prompt("consent")
                || !app
                    .has_consent(session.user_id, &r.client.client_id, &r.scope)
                    .await
                    .unwrap_or(false)));
    if needs_consent {
        if prompt("none") {
            return redirect_error(r, "consent_required", "The user has not consented");
        }
        let token = sso(app, headers).await.map(|(t, _)| t).unwrap_or_default();
        return consent_page(app, r, &token).await;
    }
    let code = app
        .issue_code(&CodeRequest {
            client_id: &r.client.client_id,
            user_id: session.user_id,
            redirect_uri: &r.redirect_uri,
            scope: &r.scope,
            nonce: r.nonce.as_deref(),
            code_challenge: r.challenge.as_deref(),
            auth_time: session.auth_time,
        })
        .await;
    match code {
        Ok(code) => {
            let mut params = vec![("code", code.as_str())];
            if let Some(state) = &r.state {
                params.push(("state", state));
            }
            redirect(&with_query(&r.redirect_uri, &params))
        }
        Err(e) => crate::http::ApiError::from(e).into_response(),
    }
}

fn action(app: &AppState, path: &str) -> String {
    format!("{}{path}", app.settings.oidc.prefix)
}

/// The login page, with a CSRF token bound to a pre-login cookie.
async fn login_page(
    app: &AppState,
    headers: &HeaderMap,
    r: &AuthRequest,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let existing = cookies::read(headers, CSRF_COOKIE);
    let cookie = existing
        .clone()
        .unwrap_or_else(|| secrets::random_token(24));
    let csrf = app.form_token(&cookie, "login");
    let error = error
        .map(|e| {
            format!(
                "<p class=\"error\" role=\"alert\">{}</p>",
                super::pages::escape(e)
            )
        })
        .unwrap_or_default();
    let mut response = render(
        app,
        status,
        "login",
        &[
            ("client", &r.client.client_id),
            ("action", &action(app, "/login")),
            ("csrf", &csrf),
            ("q", &r.raw),
            ("login_hint", &r.login_hint),
        ],
        &[
            ("error", &error),
            ("external", &external_markup(app, &r.raw)),
        ],
    )
    .await;
    if existing.is_none() {
        response.headers_mut().append(
            header::SET_COOKIE,
            cookie_header(app, CSRF_COOKIE, &cookie, 3600),
        );
    }
    response
}

async fn consent_page(app: &AppState, r: &AuthRequest, sso_token: &str) -> Response {
    let csrf = app.form_token(sso_token, "consent");
    render(
        app,
        StatusCode::OK,
        "consent",
        &[
            ("client", &r.client.client_id),
            ("scope", &r.scope),
            ("action", &action(app, "/consent")),
            ("csrf", &csrf),
            ("q", &r.raw),
        ],
        &[],
    )
    .await
}

fn form_field(body: &FormOrJson, name: &str) -> String {
    body.0
        .get(name)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Checks a hosted form's CSRF token against the cookie it was bound to.
fn csrf_ok(
    app: &AppState,
    headers: &HeaderMap,
    cookie: &str,
    purpose: &str,
    body: &FormOrJson,
) -> bool {
    let Some(value) = cookies::read(headers, cookie) else {
        return false;
    };
    let presented = form_field(body, "csrf");
    secrets::same(
        app.form_token(&value, purpose).as_bytes(),
        presented.as_bytes(),
    )
}

/// Signs the browser in and continues the authorization request.
async fn signed_in(app: &AppState, headers: &HeaderMap, r: &AuthRequest, user_id: i64) -> Response {
    let token = match app.start_browser_session(user_id).await {
        Ok(t) => t,
        Err(e) => return crate::http::ApiError::from(e).into_response(),
    };
    let session = BrowserSessionRow {
        user_id,
        auth_time: app.clock.now(),
    };
    let mut with_cookie = headers.clone();
    if let Ok(v) = HeaderValue::from_str(&format!("{SSO_COOKIE}={token}")) {
        with_cookie.insert(header::COOKIE, v);
    }
    let mut response = proceed(app, &with_cookie, r, Some(session), true, false).await;
    let max_age = app.settings.oidc.sso_ttl.as_secs();
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(app, SSO_COOKIE, &token, max_age),
    );
    response
}

/// Back from an upstream provider started on the login page: sign the browser in and
/// resume the authorization request. Castellan's own MFA is not skipped for a provider that
/// is not trusted for it: such users sign in with their password.
pub async fn resume_federated(
    app: &AppState,
    user_id: i64,
    trusted_mfa: bool,
    resume: &str,
) -> Response {
    let user = match app.user(user_id).await {
        Ok(user) => user,
        Err(e) => return crate::http::ApiError::from(e).into_response(),
    };
    if !user.is_active {
        return error_page(app, StatusCode::FORBIDDEN, "This account is disabled.").await;
    }
    if user.mfa_enabled && !trusted_mfa {
        return error_page(
            app,
            StatusCode::FORBIDDEN,
            "This account uses two-step verification: go back and sign in with your password.",
        )
        .await;
    }
    let token = match app.start_browser_session(user_id).await {
        Ok(t) => t,
        Err(e) => return crate::http::ApiError::from(e).into_response(),
    };
    let mut response = (StatusCode::FOUND, [(header::LOCATION, resume)]).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(app, SSO_COOKIE, &token, app.settings.oidc.sso_ttl.as_secs()),
    );
    response
}

/// A federated login started on the login page failed.
pub async fn federation_failed(app: &AppState, failure: &crate::core::UpstreamFailure) -> Response {
    error_page(app, StatusCode::BAD_REQUEST, &failure.message()).await
}

/// The authorization request a login-step form carries, once its CSRF token checks out.
async fn login_form(
    app: &AppState,
    headers: &HeaderMap,
    body: &FormOrJson,
) -> Result<AuthRequest, Response> {
    let r = validate(app, &form_field(body, "q")).await?;
    if !csrf_ok(app, headers, CSRF_COOKIE, "login", body) {
        return Err(form_expired(app).await);
    }
    Ok(r)
}

async fn form_expired(app: &AppState) -> Response {
    error_page(
        app,
        StatusCode::FORBIDDEN,
        "The form expired. Go back and try again.",
    )
    .await
}

#[utoipa::path(
    post,
    path = "/login",
    summary = "Hosted login form",
    request_body(content((doc::HostedForm = "application/x-www-form-urlencoded"))),
    responses(
        (status = 303, description = "On to consent or back to the client"),
        (status = 200, description = "The next step (TOTP or consent)", body = String, content_type = "text/html"),
        (status = 400, description = "An error page", body = String, content_type = "text/html"),
        (status = 401, description = "The login page again, with an error", body = String, content_type = "text/html"),
        (status = 403, description = "The form expired", body = String, content_type = "text/html"),
    )
)]
pub async fn login(
    State(app): State<AppState>,
    Client(ctx): Client,
    headers: HeaderMap,
    body: FormOrJson,
) -> Response {
    let r = match login_form(&app, &headers, &body).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let password = Secret::new(form_field(&body, "password"));
    match app
        .authenticate(&form_field(&body, "username"), &password, &ctx)
        .await
    {
        Ok(user) if user.mfa_enabled => match app.mfa_challenge(&user, &ctx).await {
            CoreError::MfaRequired { mfa_token } => {
                mfa_page(&app, &headers, &r, mfa_token.expose(), None).await
            }
            e => crate::http::ApiError::from(e).into_response(),
        },
        Ok(user) => signed_in(&app, &headers, &r, user.id).await,
        Err(CoreError::InvalidCredentials | CoreError::EmailNotVerified) => {
            login_page(
                &app,
                &headers,
                &r,
                StatusCode::UNAUTHORIZED,
                Some("Invalid username or password"),
            )
            .await
        }
        Err(CoreError::RateLimited { .. }) => {
            login_page(
                &app,
                &headers,
                &r,
                StatusCode::TOO_MANY_REQUESTS,
                Some("Too many attempts. Try again later."),
            )
            .await
        }
        Err(e) => crate::http::ApiError::from(e).into_response(),
    }
}

async fn mfa_page(
    app: &AppState,
    headers: &HeaderMap,
    r: &AuthRequest,
    mfa_token: &str,
    error: Option<&str>,
) -> Response {
    let cookie = cookies::read(headers, CSRF_COOKIE).unwrap_or_default();
    let csrf = app.form_token(&cookie, "login");
    let error = error
        .map(|e| {
            format!(
                "<p class=\"error\" role=\"alert\">{}</p>",
                super::pages::escape(e)
            )
        })
        .unwrap_or_default();
    let status = if error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    render(
        app,
        status,
        "mfa",
        &[
            ("action", &action(app, "/mfa")),
            ("csrf", &csrf),
            ("q", &r.raw),
            ("mfa_token", mfa_token),
        ],
        &[("error", &error)],
    )
    .await
}

#[utoipa::path(
    post,
    path = "/mfa",
    summary = "Hosted TOTP step",
    request_body(content((doc::HostedForm = "application/x-www-form-urlencoded"))),
    responses(
        (status = 303, description = "On to consent or back to the client"),
        (status = 200, description = "The consent page", body = String, content_type = "text/html"),
        (status = 400, description = "An error page", body = String, content_type = "text/html"),
        (status = 401, description = "The TOTP page again, with an error", body = String, content_type = "text/html"),
        (status = 403, description = "The form expired", body = String, content_type = "text/html"),
    )
)]
pub async fn second_factor(
    State(app): State<AppState>,
    Client(ctx): Client,
    headers: HeaderMap,
    body: FormOrJson,
) -> Response {
    let r = match login_form(&app, &headers, &body).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let mfa_token = form_field(&body, "mfa_token");
    let code = SecondFactor::Code(form_field(&body, "code").trim().to_owned());
    match app.complete_mfa(&mfa_token, code, &ctx).await {
        Ok(issued) => {
            // The hosted login keeps only the browser session, not an API session.
            if let Err(e) = app
                .revoke_sessions(Revoke::One(&issued.session_id), "hosted_login")
                .await
            {
                return crate::http::ApiError::from(e).into_response();
            }
            signed_in(&app, &headers, &r, issued.user.id).await
        }
        Err(CoreError::InvalidCode) => {
            mfa_page(
                &app,
                &headers,
                &r,
                &mfa_token,
                Some("That code is not valid."),
            )
            .await
        }
        Err(CoreError::TokenInvalid) => {
            login_page(
                &app,
                &headers,
                &r,
                StatusCode::UNAUTHORIZED,
                Some("Sign in again."),
            )
            .await
        }
        Err(e) => crate::http::ApiError::from(e).into_response(),
    }
}

#[utoipa::path(
    post,
    path = "/consent",
    summary = "Hosted consent decision",
    request_body(content((doc::HostedForm = "application/x-www-form-urlencoded"))),
    responses(
        (status = 303, description = "Back to the client"),
        (status = 400, description = "An error page", body = String, content_type = "text/html"),
        (status = 403, description = "The form expired", body = String, content_type = "text/html"),
    )
)]
pub async fn consent(
    State(app): State<AppState>,
    Client(ctx): Client,
    headers: HeaderMap,
    body: FormOrJson,
) -> Response {
    let r = match validate(&app, &form_field(&body, "q")).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let Some((_, session)) = sso(&app, &headers).await else {
        return login_page(&app, &headers, &r, StatusCode::OK, None).await;
    };
    if !csrf_ok(&app, &headers, SSO_COOKIE, "consent", &body) {
        return form_expired(&app).await;
    }
    if form_field(&body, "decision") != "allow" {
        return redirect_error(&r, "access_denied", "The user denied access");
    }
    if let Err(e) = app
        .grant_consent(session.user_id, &r.client.client_id, &r.scope, &ctx)
        .await
    {
        return crate::http::ApiError::from(e).into_response();
    }
    proceed(&app, &headers, &r, Some(session), true, true).await
}

#[utoipa::path(
    get,
    path = "/logout",
    summary = "RP-initiated logout",
    params(("id_token_hint" = Option<String>, Query, description = "An ID token of the session"), ("post_logout_redirect_uri" = Option<String>, Query, description = "One of the client's redirect URIs"), ("client_id" = Option<String>, Query, description = "The client"), ("state" = Option<String>, Query, description = "Echoed back")),
    responses(
        (status = 303, description = "Back to the `post_logout_redirect_uri`"),
        (status = 200, description = "A signed-out page", body = String, content_type = "text/html"),
        (status = 400, description = "An error page", body = String, content_type = "text/html"),
    )
)]
pub async fn logout(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    end_session(&app, &headers, &q).await
}

#[utoipa::path(
    post,
    path = "/logout",
    summary = "RP-initiated logout (form post)",
    request_body(content((doc::LogoutForm = "application/x-www-form-urlencoded"), (doc::LogoutForm = "application/json"))),
    responses(
        (status = 303, description = "Back to the `post_logout_redirect_uri`"),
        (status = 200, description = "A signed-out page", body = String, content_type = "text/html"),
        (status = 400, description = "An error page", body = String, content_type = "text/html"),
    )
)]
pub async fn logout_form(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: FormOrJson,
) -> Response {
    let q: HashMap<String, String> = body
        .0
        .0
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
        .collect();
    end_session(&app, &headers, &q).await
}

/// The client an `id_token_hint` was issued to (its `aud`), read without trusting it: it
/// only chooses which registered URIs `post_logout_redirect_uri` must match.
fn hinted_client(hint: &str) -> Option<String> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let payload = hint.split('.').nth(1)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims["aud"].as_str().map(String::from)
}

/// RP-initiated logout: ends the browser session, then returns to an exactly registered URI.
async fn end_session(app: &AppState, headers: &HeaderMap, q: &HashMap<String, String>) -> Response {
    let target = match q.get("post_logout_redirect_uri").filter(|u| !u.is_empty()) {
        Some(uri) => {
            let client_id = q
                .get("client_id")
                .cloned()
                .or_else(|| q.get("id_token_hint").and_then(|h| hinted_client(h)));
            let client = match client_id {
                Some(id) => app.client(&id).await.ok(),
                None => None,
            };
            if !client.is_some_and(|c| c.has_redirect_uri(uri)) {
                return error_page(
                    app,
                    StatusCode::BAD_REQUEST,
                    "The post_logout_redirect_uri is not registered for this client.",
                )
                .await;
            }
            let state = q.get("state").map(String::as_str);
            Some(match state {
                Some(s) => with_query(uri, &[("state", s)]),
                None => uri.clone(),
            })
        }
        None => None,
    };
    if let Some(token) = cookies::read(headers, SSO_COOKIE)
        && let Err(e) = app.end_browser_session(&token).await
    {
        return crate::http::ApiError::from(e).into_response();
    }
    let mut response = match target {
        Some(uri) => redirect(&uri),
        None => {
            render(
                app,
                StatusCode::OK,
                "message",
                &[("title", "Signed out"), ("message", "You are signed out.")],
                &[],
            )
            .await
        }
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, cookie_header(app, SSO_COOKIE, "", 0));
    response
}
