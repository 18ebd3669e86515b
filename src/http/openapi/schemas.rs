//! Shapes of request and response bodies that handlers read field by field (`Fields`) or
//! build with `json!`: they exist only to describe the wire format in the OpenAPI document.
//! Types the handlers serialize directly (User, sessions, API keys, …) derive `ToSchema`
//! where they are defined.

// Never constructed: each type is a description of JSON that handlers assemble themselves.
#![allow(dead_code)]

use serde_json::Value;
use utoipa::ToSchema;

use crate::{
    core::{AuditEntry, OAuthClient},
    domain::User,
};

// ---- failures, one shape per dialect ----

/// The native failure body.
#[derive(ToSchema)]
#[schema(example = json!({"status": "error", "error": {"code": "INVALID_CREDENTIALS",
    "message": "Invalid username or password", "details": null,
    "timestamp": "2026-01-01T00:00:00Z", "request_id": "0f6c2a9e4b1d4c7a"}}))]
pub struct NativeError {
    /// Always `error`.
    status: String,
    error: NativeErrorDetail,
}

#[derive(ToSchema)]
pub struct NativeErrorDetail {
    /// A stable code such as `VALIDATION_ERROR`, `TOKEN_INVALID` or `RATE_LIMITED`.
    code: String,
    message: String,
    /// Field errors (`{"field": ["message"]}`), `{"mfa_token": …}` for `MFA_REQUIRED`, or null.
    details: Option<Value>,
    timestamp: String,
    request_id: String,
}

/// A SimpleJWT failure: `{"detail", "code"?}`, or field errors `{"field": ["message"]}`.
#[derive(ToSchema)]
#[schema(example = json!({"detail": "Token is invalid or expired", "code": "token_not_valid"}))]
pub struct SimpleJwtError {
    detail: Option<String>,
    /// `token_not_valid` for a refused token.
    code: Option<String>,
    /// Per token class, why a bearer token was refused.
    messages: Option<Vec<Value>>,
}

/// An envelope failure.
#[derive(ToSchema)]
#[schema(example = json!({"success": false, "message": "Invalid username or password"}))]
pub struct EnvelopeError {
    success: bool,
    message: String,
}

/// An RFC 6749 error.
#[derive(ToSchema)]
#[schema(example = json!({"error": "invalid_grant", "error_description": "The code is invalid or expired"}))]
pub struct OAuthErrorBody {
    error: String,
    error_description: Option<String>,
}

// ---- requests ----

/// Username (or email) and password.
#[derive(ToSchema)]
#[schema(example = json!({"username": "alice", "password": "correct horse battery staple"}))]
pub struct Credentials {
    username: String,
    password: String,
}

#[derive(ToSchema)]
#[schema(example = json!({"username": "alice", "email": "alice@example.com",
    "password": "correct horse battery staple", "first_name": "Alice", "last_name": "Liddell"}))]
pub struct Registration {
    username: String,
    email: String,
    password: String,
    first_name: Option<String>,
    last_name: Option<String>,
}

/// The refresh token; in cookie mode it may come from the refresh cookie instead.
#[derive(ToSchema)]
#[schema(example = json!({"refresh_token": "3q2-7wEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}))]
pub struct RefreshRequest {
    refresh_token: Option<String>,
}

#[derive(ToSchema)]
#[schema(example = json!({"refresh_token": "3q2-7wEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "all": false}))]
pub struct LogoutRequest {
    /// Ends this token's session when no bearer token is given.
    refresh_token: Option<String>,
    /// Ends every session of the user.
    all: Option<bool>,
}

/// A token to check, consume or exchange.
#[derive(ToSchema)]
#[schema(example = json!({"token": "eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCJ9.e30.c2ln"}))]
pub struct TokenField {
    token: String,
}

#[derive(ToSchema)]
#[schema(example = json!({"first_name": "Alice", "last_name": "Liddell"}))]
pub struct ProfilePatch {
    #[schema(max_length = 150)]
    first_name: Option<String>,
    #[schema(max_length = 150)]
    last_name: Option<String>,
}

#[derive(ToSchema)]
#[schema(example = json!({"current_password": "old secret phrase", "new_password": "new secret phrase"}))]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

#[derive(ToSchema)]
#[schema(example = json!({"email": "alice@example.com"}))]
pub struct EmailField {
    email: String,
}

#[derive(ToSchema)]
#[schema(example = json!({"token": "reset-token-from-the-mail", "new_password": "new secret phrase"}))]
pub struct PasswordReset {
    token: String,
    new_password: String,
}

#[derive(ToSchema)]
#[schema(example = json!({"code": "123456"}))]
pub struct CodeField {
    code: String,
}

/// Exactly one of `code` and `password`.
#[derive(ToSchema)]
#[schema(example = json!({"code": "123456"}))]
pub struct TotpDisable {
    code: Option<String>,
    password: Option<String>,
}

/// The `mfa_token` of the refused login and exactly one of `code` and `recovery_code`.
#[derive(ToSchema)]
#[schema(example = json!({"mfa_token": "mfa-token-from-the-login", "code": "123456"}))]
pub struct MfaVerify {
    mfa_token: String,
    code: Option<String>,
    recovery_code: Option<String>,
}

#[derive(ToSchema)]
#[schema(example = json!({"name": "ci", "scopes": ["users:read"], "expires_in": 86400}))]
pub struct ApiKeyRequest {
    name: String,
    scopes: Option<Vec<String>>,
    /// Seconds until the key expires; never when absent.
    expires_in: Option<i64>,
}

#[derive(ToSchema)]
#[schema(example = json!({"username": "bob", "email": "bob@example.com",
    "password": "correct horse battery staple", "is_superuser": false, "roles": ["support"]}))]
pub struct AdminUserCreate {
    username: String,
    email: String,
    password: String,
    first_name: Option<String>,
    last_name: Option<String>,
    is_superuser: Option<bool>,
    roles: Option<Vec<String>>,
}

#[derive(ToSchema)]
#[schema(example = json!({"is_active": false}))]
pub struct AdminUserPatch {
    #[schema(max_length = 150)]
    first_name: Option<String>,
    #[schema(max_length = 150)]
    last_name: Option<String>,
    email: Option<String>,
    is_active: Option<bool>,
}

#[derive(ToSchema)]
#[schema(example = json!({"name": "support", "description": "Help desk", "permissions": ["users:read"]}))]
pub struct RoleCreate {
    name: String,
    description: Option<String>,
    permissions: Vec<String>,
}

#[derive(ToSchema)]
#[schema(example = json!({"role": "support"}))]
pub struct RoleGrant {
    role: String,
}

#[derive(ToSchema)]
#[schema(example = json!({"redirect": "https://app.example.com/linked"}))]
pub struct LinkRequest {
    /// Where the browser returns afterwards; must be on `federation.redirect_allow_list`.
    redirect: String,
}

#[derive(ToSchema)]
#[schema(example = json!({"code": "one-time-code-from-the-redirect"}))]
pub struct ExchangeRequest {
    code: String,
}

#[derive(ToSchema)]
#[schema(example = json!({"username": "alice"}))]
pub struct PasskeyLoginStart {
    username: String,
}

/// The ceremony of a `start` and the authenticator's answer.
#[derive(ToSchema)]
#[schema(example = json!({"ceremony_id": "c1", "credential": {"id": "…", "response": {}}}))]
pub struct CeremonyFinish {
    ceremony_id: String,
    credential: Value,
}

#[derive(ToSchema)]
#[schema(example = json!({"mfa_token": "mfa-token-from-the-login"}))]
pub struct PasskeyMfaStart {
    mfa_token: String,
}

#[derive(ToSchema)]
#[schema(example = json!({"mfa_token": "mfa-token-from-the-login", "ceremony_id": "c1", "credential": {}}))]
pub struct PasskeyMfaFinish {
    mfa_token: String,
    ceremony_id: String,
    credential: Value,
}

#[derive(ToSchema)]
#[schema(example = json!({"client_id": "web", "redirect_uris": ["https://app.example.com/cb"],
    "grant_types": ["authorization_code", "refresh_token"], "scopes": ["openid", "profile"],
    "public": true, "first_party": false}))]
pub struct ClientCreate {
    client_id: String,
    redirect_uris: Option<Vec<String>>,
    grant_types: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
    public: Option<bool>,
    first_party: Option<bool>,
    /// `RS256` (default), `EdDSA` or `ES256`.
    id_token_signed_response_alg: Option<String>,
}

#[derive(ToSchema)]
#[schema(example = json!({"advance": 3600}))]
pub struct ClockAdvance {
    /// Seconds to move the server's clock forward.
    #[schema(minimum = 0)]
    advance: i64,
}

#[derive(ToSchema)]
#[schema(example = json!({"username": "alice", "password": "correct horse battery staple"}))]
pub struct SimpleJwtCredentials {
    username: String,
    password: String,
}

#[derive(ToSchema)]
#[schema(example = json!({"refresh": "3q2-7wEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}))]
pub struct SimpleJwtRefresh {
    refresh: String,
}

#[derive(ToSchema)]
#[schema(example = json!({"username": "alice", "password": "correct horse battery staple",
    "email": "alice@example.com"}))]
pub struct SimpleJwtRegistration {
    username: String,
    password: String,
    email: Option<String>,
}

#[derive(ToSchema)]
#[schema(example = json!({"refreshToken": "3q2-7wEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}))]
pub struct EnvelopeRefresh {
    #[schema(rename = "refreshToken")]
    refresh_token: String,
}

/// A token request (RFC 6749 §4.1.3, §4.4.2, §6); the client authenticates with HTTP basic
/// or with `client_id`/`client_secret` in the body.
#[derive(ToSchema)]
#[schema(example = json!({"grant_type": "authorization_code", "code": "…",
    "redirect_uri": "https://app.example.com/cb", "code_verifier": "…", "client_id": "web"}))]
pub struct TokenRequest {
    /// `authorization_code`, `refresh_token` or `client_credentials`.
    grant_type: String,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// A token to introspect or revoke (RFC 7662, RFC 7009).
#[derive(ToSchema)]
#[schema(example = json!({"token": "…", "token_type_hint": "refresh_token"}))]
pub struct ClientTokenRequest {
    token: String,
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// A hosted page's form: the authorization request (`q`), the form's CSRF token and the
/// step's own fields (`username`/`password`, `code`, or the consent decision).
#[derive(ToSchema)]
#[schema(example = json!({"q": "response_type=code&client_id=web&…", "csrf": "…",
    "username": "alice", "password": "correct horse battery staple"}))]
pub struct HostedForm {
    q: String,
    csrf: String,
    username: Option<String>,
    password: Option<String>,
    code: Option<String>,
    decision: Option<String>,
}

/// RP-initiated logout parameters (OpenID Connect RP-Initiated Logout 1.0).
#[derive(ToSchema)]
#[schema(example = json!({"id_token_hint": "…", "post_logout_redirect_uri": "https://app.example.com/bye"}))]
pub struct LogoutForm {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    client_id: Option<String>,
    state: Option<String>,
}

// ---- answers ----

#[derive(ToSchema)]
#[schema(example = json!({"access_token": "eyJ…", "token_type": "bearer", "expires_in": 3600,
    "refresh_token": "3q2-7wE…"}))]
pub struct TokenPair {
    access_token: String,
    token_type: String,
    expires_in: i64,
    /// Null in cookie mode: the token is in the refresh cookie.
    refresh_token: Option<String>,
}

#[derive(ToSchema)]
pub struct VerifyAnswer {
    valid: bool,
    /// `access` or `refresh`.
    token_type: String,
    expires_at: String,
    claims: Value,
}

#[derive(ToSchema)]
pub struct Message {
    message: String,
}

/// Mail is queued; the same answer whether or not an account uses the address.
#[derive(ToSchema)]
pub struct Queued {
    status: String,
    message: String,
}

#[derive(ToSchema)]
pub struct TotpSetup {
    secret: String,
    otpauth_uri: String,
    /// The `otpauth_uri` as a PNG QR code in a `data:` URL.
    qr: String,
}

#[derive(ToSchema)]
pub struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

/// A new API key; `key` is shown only in this answer.
#[derive(ToSchema)]
pub struct ApiKeyCreated {
    id: String,
    name: String,
    key: String,
    prefix: String,
    scopes: Vec<String>,
    created_at: String,
    expires_at: Option<String>,
}

#[derive(ToSchema)]
pub struct UserPage {
    items: Vec<User>,
    total: i64,
    limit: i64,
    offset: i64,
}

#[derive(ToSchema)]
pub struct Role {
    name: String,
    description: String,
    permissions: Vec<String>,
}

#[derive(ToSchema)]
pub struct RoleList {
    items: Vec<Role>,
}

#[derive(ToSchema)]
pub struct AuditPage {
    items: Vec<AuditEntry>,
}

#[derive(ToSchema)]
pub struct FederationProvider {
    id: String,
    display_name: String,
}

#[derive(ToSchema)]
pub struct AuthorizationUrl {
    authorization_url: String,
}

#[derive(ToSchema)]
pub struct Identity {
    id: i64,
    provider: String,
    subject: String,
    email: Option<String>,
    created_at: String,
    last_used: String,
}

#[derive(ToSchema)]
pub struct Consent {
    client_id: String,
    scope: String,
    created_at: String,
}

/// Pass `options` to `navigator.credentials.create()` or `.get()`.
#[derive(ToSchema)]
pub struct CeremonyStarted {
    ceremony_id: String,
    options: Value,
}

#[derive(ToSchema)]
pub struct ClientList {
    items: Vec<OAuthClient>,
}

/// A registered client and, for a confidential one, its secret (shown only here).
#[derive(ToSchema)]
pub struct ClientCreated {
    client_id: String,
    redirect_uris: Vec<String>,
    grant_types: Vec<String>,
    scopes: Vec<String>,
    public: bool,
    first_party: bool,
    id_token_signed_response_alg: String,
    client_secret: Option<String>,
}

#[derive(ToSchema)]
pub struct ClientSecret {
    client_id: String,
    client_secret: String,
}

#[derive(ToSchema)]
pub struct RotatedKey {
    kid: String,
}

#[derive(ToSchema)]
pub struct Health {
    /// `healthy`, or `unhealthy` (503) when the database is down.
    status: String,
    service: Option<String>,
    version: Option<String>,
    /// Seconds since start, as a string.
    uptime: Option<String>,
    dependencies: Option<Value>,
    error: Option<String>,
    timestamp: Option<String>,
}

#[derive(ToSchema)]
pub struct Liveness {
    status: String,
}

/// A JSON Web Key Set (RFC 7517).
#[derive(ToSchema)]
pub struct Jwks {
    keys: Vec<Value>,
}

#[derive(ToSchema)]
pub struct ClockNow {
    /// The server's clock, in Unix seconds.
    now: i64,
}

#[derive(ToSchema)]
pub struct SimpleJwtPair {
    refresh: String,
    access: String,
}

/// `refresh` only when `api.simplejwt.rotate_refresh` is on.
#[derive(ToSchema)]
pub struct SimpleJwtAccess {
    access: String,
    refresh: Option<String>,
}

/// `{}`: the token is valid.
#[derive(ToSchema)]
pub struct Empty {}

#[derive(ToSchema)]
pub struct SimpleJwtUser {
    username: String,
}

#[derive(ToSchema)]
pub struct EnvelopeLogin {
    success: bool,
    message: String,
    data: EnvelopeLoginData,
}

#[derive(ToSchema)]
pub struct EnvelopeLoginData {
    token: String,
    #[schema(rename = "refreshToken")]
    refresh_token: String,
    username: String,
    email: String,
    roles: Vec<String>,
}

#[derive(ToSchema)]
pub struct EnvelopeRefreshed {
    success: bool,
    message: String,
    data: EnvelopeRefreshData,
}

#[derive(ToSchema)]
pub struct EnvelopeRefreshData {
    #[schema(rename = "accessToken")]
    access_token: String,
    #[schema(rename = "refreshToken")]
    refresh_token: String,
    username: String,
    email: String,
    roles: Vec<String>,
}

/// The OpenID Provider metadata (OpenID Connect Discovery 1.0 §3).
#[derive(ToSchema)]
pub struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    jwks_uri: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    end_session_endpoint: String,
}

#[derive(ToSchema)]
pub struct OAuthTokenAnswer {
    access_token: String,
    token_type: String,
    expires_in: i64,
    scope: String,
    refresh_token: Option<String>,
    id_token: Option<String>,
}

/// RFC 7662 §2.2: `active` and, for an active token, its claims.
#[derive(ToSchema)]
pub struct Introspection {
    active: bool,
    scope: Option<String>,
    client_id: Option<String>,
    username: Option<String>,
    token_type: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
    sub: Option<String>,
    aud: Option<Value>,
    iss: Option<String>,
    jti: Option<String>,
}

/// The claims the access token's scopes release (OpenID Connect Core §5.3.2).
#[derive(ToSchema)]
pub struct UserInfo {
    sub: String,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    preferred_username: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
}

/// `{"error"}` with a `WWW-Authenticate` challenge (RFC 6750 §3).
#[derive(ToSchema)]
pub struct BearerError {
    error: String,
}
