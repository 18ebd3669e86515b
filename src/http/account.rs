//! The account surface of the native API (contract section 5): profile, email
//! verification, password reset, sessions, TOTP and API keys.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use serde_json::{Value, json};

use super::{
    AppState, Client, Mount,
    auth::Caller,
    error::ApiError,
    input::{Fields, Text},
    native::token_pair,
    no_store,
    principal::Principal,
};
use crate::{
    core::{ApiKeyView, SessionView},
    domain::User,
    http::openapi::schemas as doc,
};
use crate::{
    core::{NewApiKey, SecondFactor},
    domain::{FieldErrors, Secret},
};

pub fn routes(mount: &mut Mount, prefix: &str) {
    mount.route(prefix, "/password/forgot", post(forgot_password));
    mount.route(prefix, "/password/reset", post(reset_password));
    mount.route(prefix, "/email/verify", post(verify_email));
    mount.route(prefix, "/email/resend", post(resend_verification));
    mount.route(prefix, "/sessions", get(sessions));
    mount.route(prefix, "/sessions/{id}", delete(end_session));
    mount.route(prefix, "/mfa/totp/setup", post(totp_setup));
    mount.route(prefix, "/mfa/totp/confirm", post(totp_confirm));
    mount.route(prefix, "/mfa/totp", delete(totp_disable));
    mount.route(prefix, "/mfa/verify", post(mfa_verify));
    mount.route(prefix, "/api-keys", post(create_api_key).get(api_keys));
    mount.route(prefix, "/api-keys/{id}", delete(revoke_api_key));
}

/// The operations of this surface, relative to where it is mounted.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    update_me,
    forgot_password,
    reset_password,
    verify_email,
    resend_verification,
    sessions,
    end_session,
    totp_setup,
    totp_confirm,
    totp_disable,
    mfa_verify,
    create_api_key,
    api_keys,
    revoke_api_key
))]
pub struct Api;

/// Reads the required string fields, or answers with every missing one.
fn required<const N: usize>(body: &Fields, names: [&str; N]) -> Result<[String; N], ApiError> {
    let mut errors = FieldErrors::default();
    let values = names.map(|n| body.required(n, Text::Exact, &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::validation(&errors));
    }
    Ok(values.map(Option::unwrap_or_default))
}

fn accepted(message: &str) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(json!({"status": "queued", "message": message})),
    )
        .into_response()
}

/// `PATCH /me`: the caller's own names.
#[utoipa::path(
    patch,
    path = "/me",
    summary = "Change the signed-in user's names",
    request_body = doc::ProfilePatch,
    responses(
        (status = 200, description = "The updated user", body = User),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission, an API key on a session-only operation, or a failed CSRF check"),
    ),
    security(("bearer" = []), ("api_key" = []), ("cookie" = [], "csrf" = []))
)]
pub async fn update_me(
    State(app): State<AppState>,
    principal: Principal,
    Client(ctx): Client,
    body: Fields,
) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::default();
    let first = body.optional("first_name", Text::Trimmed, &mut errors);
    let last = body.optional("last_name", Text::Trimmed, &mut errors);
    for (name, value) in [("first_name", &first), ("last_name", &last)] {
        if value.as_ref().is_some_and(|v| v.chars().count() > 150) {
            errors.add(name, "Ensure this field has no more than 150 characters.");
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(&errors));
    }
    let user = app
        .update_profile(principal.user_id, first, last, &ctx)
        .await?;
    Ok(no_store(Json(user)))
}

#[utoipa::path(
    post,
    path = "/password/forgot",
    summary = "Mail a password reset link",
    request_body = doc::EmailField,
    responses(
        (status = 202, description = "Queued; the same answer for unknown addresses", body = doc::Queued),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
    )
)]
async fn forgot_password(
    State(app): State<AppState>,
    Client(ctx): Client,
    body: Fields,
) -> Result<Response, ApiError> {
    let [email] = required(&body, ["email"])?;
    app.forgot_password(&email, &ctx).await?;
    Ok(accepted(
        "If an account uses this address, a mail with a reset link is on its way.",
    ))
}

#[utoipa::path(
    post,
    path = "/password/reset",
    summary = "Set a new password with the mailed token; ends every session",
    request_body = doc::PasswordReset,
    responses(
        (status = 200, description = "Reset", body = doc::Message),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "The token is invalid, spent or expired (`TOKEN_INVALID`)"),
    )
)]
async fn reset_password(
    State(app): State<AppState>,
    Client(ctx): Client,
    body: Fields,
) -> Result<Response, ApiError> {
    let [token, new_password] = required(&body, ["token", "new_password"])?;
    app.reset_password(&token, &new_password, &ctx).await?;
    Ok(no_store(Json(
        json!({"message": "Password reset; log in with the new password"}),
    )))
}

#[utoipa::path(
    post,
    path = "/email/verify",
    summary = "Confirm the email address with the mailed token",
    request_body = doc::TokenField,
    responses(
        (status = 200, description = "The user, now verified", body = User),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "The token is invalid, spent or expired (`TOKEN_INVALID`)"),
    )
)]
async fn verify_email(
    State(app): State<AppState>,
    Client(ctx): Client,
    body: Fields,
) -> Result<Response, ApiError> {
    let [token] = required(&body, ["token"])?;
    let user = app.verify_email(&token, &ctx).await?;
    Ok(no_store(Json(user)))
}

#[utoipa::path(
    post,
    path = "/email/resend",
    summary = "Mail a new verification link",
    responses(
        (status = 202, description = "Queued", body = doc::Queued),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission, an API key on a session-only operation, or a failed CSRF check"),
        (status = 409, description = "Already verified"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []))
)]
async fn resend_verification(
    State(app): State<AppState>,
    caller: Caller,
    Client(ctx): Client,
) -> Result<Response, ApiError> {
    app.resend_verification(caller.user_id()?, &ctx).await?;
    Ok(accepted("A verification mail is on its way."))
}

#[utoipa::path(
    get,
    path = "/sessions",
    summary = "The signed-in user's live sessions",
    responses(
        (status = 200, description = "Newest first; `current` marks this one", body = Vec<SessionView>),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission, an API key on a session-only operation, or a failed CSRF check"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []))
)]
async fn sessions(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let list = app
        .sessions_of(caller.user_id()?, Some(&caller.claims.sid))
        .await?;
    Ok(no_store(Json(list)))
}

#[utoipa::path(
    delete,
    path = "/sessions/{id}",
    summary = "End one session",
    params(("id" = String, Path, description = "The identifier from the listing")),
    responses(
        (status = 204, description = "Ended; its tokens stop working"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission, an API key on a session-only operation, or a failed CSRF check"),
        (status = 404, description = "No such resource"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []))
)]
async fn end_session(
    State(app): State<AppState>,
    caller: Caller,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.end_session(caller.user_id()?, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    post,
    path = "/mfa/totp/setup",
    summary = "Start TOTP enrolment",
    responses(
        (status = 200, description = "The secret to load into an authenticator app", body = doc::TotpSetup),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission, an API key on a session-only operation, or a failed CSRF check"),
        (status = 409, description = "TOTP is already on"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []))
)]
async fn totp_setup(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let setup = app.totp_setup(caller.user_id()?).await?;
    Ok(no_store(Json(json!({
        "secret": setup.secret,
        "otpauth_uri": setup.otpauth_uri,
        "qr": format!("data:image/png;base64,{}", setup.qr_png_base64),
    }))))
}

#[utoipa::path(
    post,
    path = "/mfa/totp/confirm",
    summary = "Confirm TOTP enrolment with a first code",
    request_body = doc::CodeField,
    responses(
        (status = 200, description = "MFA is on; the recovery codes are shown only here", body = doc::RecoveryCodes),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "Wrong code (`INVALID_MFA_CODE`) or not signed in"),
        (status = 403, description = "Lacks the permission, an API key on a session-only operation, or a failed CSRF check"),
        (status = 409, description = "No enrolment pending, or already on"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []))
)]
async fn totp_confirm(
    State(app): State<AppState>,
    caller: Caller,
    Client(ctx): Client,
    body: Fields,
) -> Result<Response, ApiError> {
    let [code] = required(&body, ["code"])?;
    let codes = app.totp_confirm(caller.user_id()?, &code, &ctx).await?;
    Ok(no_store(Json(json!({"recovery_codes": codes}))))
}

/// The factor in a body: `code`, `recovery_code`, or (where allowed) `password`.
fn factor(body: &Fields, allow_password: bool) -> Result<SecondFactor, ApiError> {
    let mut errors = FieldErrors::default();
    let code = body.optional("code", Text::Trimmed, &mut errors);
    let recovery = body.optional("recovery_code", Text::Trimmed, &mut errors);
    let password = body.optional("password", Text::Exact, &mut errors);
    match (code, recovery, password) {
        (Some(c), None, None) if !c.is_empty() => Ok(SecondFactor::Code(c)),
        (None, Some(r), None) if !allow_password && !r.is_empty() => Ok(SecondFactor::Recovery(r)),
        (None, None, Some(p)) if allow_password && !p.is_empty() => {
            Ok(SecondFactor::Password(Secret::new(p)))
        }
        _ => {
            let other = if allow_password {
                "password"
            } else {
                "recovery_code"
            };
            errors.add("code", format!("Give exactly one of `code` and `{other}`."));
            Err(ApiError::validation(&errors))
        }
    }
}

#[utoipa::path(
    delete,
    path = "/mfa/totp",
    summary = "Turn TOTP off with a code or the password",
    request_body = doc::TotpDisable,
    responses(
        (status = 204, description = "MFA is off"),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "Wrong code or password, or not signed in"),
        (status = 403, description = "Lacks the permission, an API key on a session-only operation, or a failed CSRF check"),
        (status = 409, description = "TOTP is not on"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []))
)]
async fn totp_disable(
    State(app): State<AppState>,
    caller: Caller,
    Client(ctx): Client,
    body: Fields,
) -> Result<Response, ApiError> {
    let proof = factor(&body, true)?;
    app.totp_disable(caller.user_id()?, proof, &ctx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    post,
    path = "/mfa/verify",
    summary = "Complete a login with a TOTP or recovery code",
    request_body = doc::MfaVerify,
    responses(
        (status = 200, description = "A token pair", body = doc::TokenPair),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "Wrong code (`INVALID_MFA_CODE`) or an invalid `mfa_token` (`TOKEN_INVALID`)"),
    )
)]
async fn mfa_verify(
    State(app): State<AppState>,
    Client(ctx): Client,
    body: Fields,
) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::default();
    let token = body.required("mfa_token", Text::Exact, &mut errors);
    let factor = factor(&body, false);
    let (token, factor) = match (token, factor) {
        (Some(token), Ok(factor)) => (token, factor),
        (None, _) => return Err(ApiError::validation(&errors)),
        (_, Err(e)) => return Err(e),
    };
    let issued = app.complete_mfa(&token, factor, &ctx).await?;
    Ok(no_store(Json(token_pair(&issued))))
}

#[utoipa::path(
    post,
    path = "/api-keys",
    summary = "Create an API key",
    request_body = doc::ApiKeyRequest,
    responses(
        (status = 201, description = "The key; `key` is shown only here", body = doc::ApiKeyCreated),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission, an API key on a session-only operation, or a failed CSRF check"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []))
)]
async fn create_api_key(
    State(app): State<AppState>,
    caller: Caller,
    Client(ctx): Client,
    body: Fields,
) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::default();
    let name = body.required("name", Text::Trimmed, &mut errors);
    let scopes = body.string_list("scopes", &mut errors).unwrap_or_default();
    let expires_in = body.integer("expires_in", &mut errors);
    let Some(name) = name.filter(|_| errors.is_empty()) else {
        return Err(ApiError::validation(&errors));
    };
    let new = NewApiKey {
        name,
        scopes,
        expires_in,
    };
    let (view, key) = app.create_api_key(caller.user_id()?, new, &ctx).await?;
    let mut body = serde_json::to_value(&view).map_err(|_| ApiError::internal())?;
    if let Value::Object(map) = &mut body {
        map.remove("last_used_at");
        map.insert("key".into(), Value::from(key));
    }
    Ok((StatusCode::CREATED, no_store(Json(body))).into_response())
}

#[utoipa::path(
    get,
    path = "/api-keys",
    summary = "The signed-in user's API keys",
    responses(
        (status = 200, description = "The keys, without secrets", body = Vec<ApiKeyView>),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission, an API key on a session-only operation, or a failed CSRF check"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []))
)]
async fn api_keys(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    Ok(no_store(Json(app.api_keys(caller.user_id()?).await?)))
}

#[utoipa::path(
    delete,
    path = "/api-keys/{id}",
    summary = "Revoke an API key",
    params(("id" = String, Path, description = "The identifier from the listing")),
    responses(
        (status = 204, description = "Revoked; the key stops working at once"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission, an API key on a session-only operation, or a failed CSRF check"),
        (status = 404, description = "No such resource"),
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []))
)]
async fn revoke_api_key(
    State(app): State<AppState>,
    caller: Caller,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.revoke_api_key(caller.user_id()?, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
