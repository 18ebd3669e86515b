//! The admin API (`/admin`, contract section 5). Every handler states its permission with
//! one `Authorized<P>` extractor; the rules live in the core.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use serde_json::json;

use super::{
    AppState, Client, Mount,
    error::ApiError,
    input::{Fields, Text},
    no_store,
    principal::{AuditRead, Authorized, RolesRead, RolesWrite, UsersRead, UsersWrite},
    signup::{EmailRule, read_registration},
    values::{path_id, query_number},
};
use crate::{
    core::UserPatch,
    domain::{Email, FieldErrors},
    store::{AuditFilter, RoleRow},
};
use crate::{domain::User, http::openapi::schemas as doc};

pub fn routes(mount: &mut Mount, prefix: &str) {
    mount.route(prefix, "/users", get(list_users).post(create_user));
    mount.route(
        prefix,
        "/users/{id}",
        get(read_user).patch(update_user).delete(delete_user),
    );
    mount.route(prefix, "/users/{id}/roles", post(grant_role));
    mount.route(prefix, "/users/{id}/roles/{role}", delete(revoke_role));
    mount.route(prefix, "/roles", get(list_roles).post(create_role));
    mount.route(prefix, "/audit", get(audit));
}

/// The operations of this surface, relative to where it is mounted.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_users,
    create_user,
    read_user,
    update_user,
    delete_user,
    list_roles,
    create_role,
    grant_role,
    revoke_role,
    audit
))]
pub struct Api;

#[utoipa::path(
    get,
    path = "/users",
    summary = "List users (`users:read`)",
    params(("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Page size, default 50"), ("offset" = Option<i64>, Query, minimum = 0, description = "Users to skip"), ("q" = Option<String>, Query, description = "Matches username or email")),
    responses(
        (status = 200, description = "A page of users", body = doc::UserPage),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission"),
    ),
    security(("bearer" = []), ("api_key" = []), ("cookie" = [], "csrf" = []))
)]
async fn list_users(
    State(app): State<AppState>,
    _: Authorized<UsersRead>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::default();
    let limit = query_number(&query, "limit", 50, 1..=500, &mut errors);
    let offset = query_number(&query, "offset", 0, 0..=i64::MAX, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(&errors));
    }
    let q = query.get("q").map(String::as_str).unwrap_or_default();
    let page = app.list_users(q, limit, offset).await?;
    Ok(no_store(Json(
        json!({"items": page.items, "total": page.total, "limit": limit, "offset": offset}),
    )))
}

#[utoipa::path(
    post,
    path = "/users",
    summary = "Create a user (`users:write`)",
    request_body = doc::AdminUserCreate,
    responses(
        (status = 201, description = "The new user", body = User),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission"),
        (status = 409, description = "Taken (`USER_EXISTS`)"),
    ),
    security(("bearer" = []), ("api_key" = []), ("cookie" = [], "csrf" = []))
)]
async fn create_user(
    State(app): State<AppState>,
    auth: Authorized<UsersWrite>,
    Client(ctx): Client,
    body: Fields,
) -> Result<Response, ApiError> {
    let order = ["username", "email", "password", "first_name", "last_name"];
    let mut registration = read_registration(&app, &body, &order, EmailRule::Required)
        .map_err(|e| ApiError::validation(&e))?;
    let mut errors = FieldErrors::default();
    registration.is_superuser = body.boolean("is_superuser", &mut errors).unwrap_or(false);
    if let Some(roles) = body.string_list("roles", &mut errors) {
        registration
            .roles
            .extend(roles.into_iter().filter(|r| r != "user"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(&errors));
    }
    let user = app
        .admin_create_user(&auth.actor, registration, &ctx)
        .await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

#[utoipa::path(
    get,
    path = "/users/{id}",
    summary = "Read a user (`users:read`)",
    params(("id" = String, Path, description = "The user id")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission"),
        (status = 404, description = "No such resource"),
    ),
    security(("bearer" = []), ("api_key" = []), ("cookie" = [], "csrf" = []))
)]
async fn read_user(
    State(app): State<AppState>,
    _: Authorized<UsersRead>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(no_store(Json(app.user(path_id(&id)?).await?)))
}

#[utoipa::path(
    patch,
    path = "/users/{id}",
    summary = "Change a user (`users:write`); disabling revokes every session",
    params(("id" = String, Path, description = "The user id")),
    request_body = doc::AdminUserPatch,
    responses(
        (status = 200, description = "The user", body = User),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission"),
        (status = 404, description = "No such resource"),
        (status = 409, description = "The email is taken"),
    ),
    security(("bearer" = []), ("api_key" = []), ("cookie" = [], "csrf" = []))
)]
async fn update_user(
    State(app): State<AppState>,
    auth: Authorized<UsersWrite>,
    Client(ctx): Client,
    Path(id): Path<String>,
    body: Fields,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let mut errors = FieldErrors::default();
    let patch = UserPatch {
        first_name: body.optional("first_name", Text::Trimmed, &mut errors),
        last_name: body.optional("last_name", Text::Trimmed, &mut errors),
        email: body
            .optional("email", Text::Trimmed, &mut errors)
            .and_then(|e| Email::parse(&e).map_err(|m| errors.add("email", m)).ok()),
        is_active: body.boolean("is_active", &mut errors),
    };
    for (name, value) in [
        ("first_name", &patch.first_name),
        ("last_name", &patch.last_name),
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > 150) {
            errors.add(name, "Ensure this field has no more than 150 characters.");
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(&errors));
    }
    let user = app.admin_update_user(&auth.actor, id, patch, &ctx).await?;
    Ok(no_store(Json(user)))
}

#[utoipa::path(
    delete,
    path = "/users/{id}",
    summary = "Delete a user (`users:write`)",
    params(("id" = String, Path, description = "The user id")),
    responses(
        (status = 204, description = "Deleted; every session revoked"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission"),
        (status = 404, description = "No such resource"),
    ),
    security(("bearer" = []), ("api_key" = []), ("cookie" = [], "csrf" = []))
)]
async fn delete_user(
    State(app): State<AppState>,
    auth: Authorized<UsersWrite>,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.admin_delete_user(&auth.actor, path_id(&id)?, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn role_json(r: &RoleRow) -> serde_json::Value {
    json!({"name": r.name, "description": r.description, "permissions": r.permissions})
}

#[utoipa::path(
    get,
    path = "/roles",
    summary = "List roles (`roles:read`)",
    responses(
        (status = 200, description = "Roles", body = doc::RoleList),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission"),
    ),
    security(("bearer" = []), ("api_key" = []), ("cookie" = [], "csrf" = []))
)]
async fn list_roles(
    State(app): State<AppState>,
    _: Authorized<RolesRead>,
) -> Result<Response, ApiError> {
    let roles = app.roles().await?;
    let items: Vec<_> = roles.iter().map(role_json).collect();
    Ok(no_store(Json(json!({"items": items}))))
}

#[utoipa::path(
    post,
    path = "/roles",
    summary = "Create a role (`roles:write`)",
    request_body = doc::RoleCreate,
    responses(
        (status = 201, description = "The role", body = doc::Role),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission"),
        (status = 409, description = "The role exists"),
    ),
    security(("bearer" = []), ("api_key" = []), ("cookie" = [], "csrf" = []))
)]
async fn create_role(
    State(app): State<AppState>,
    auth: Authorized<RolesWrite>,
    Client(ctx): Client,
    body: Fields,
) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::default();
    let name = body.required("name", Text::Trimmed, &mut errors);
    let description = body.optional("description", Text::Trimmed, &mut errors);
    let permissions = body.string_list("permissions", &mut errors);
    let (Some(name), Some(permissions), true) = (name, permissions, errors.is_empty()) else {
        if !errors.contains("permissions") {
            errors.add("permissions", FieldErrors::REQUIRED);
        }
        return Err(ApiError::validation(&errors));
    };
    let role = RoleRow {
        name,
        description: description.unwrap_or_default(),
        permissions,
    };
    let role = app.create_role(&auth.actor, role, &ctx).await?;
    Ok((StatusCode::CREATED, Json(role_json(&role))).into_response())
}

#[utoipa::path(
    post,
    path = "/users/{id}/roles",
    summary = "Grant a role (`roles:write`)",
    params(("id" = String, Path, description = "The user id")),
    request_body = doc::RoleGrant,
    responses(
        (status = 200, description = "The user", body = User),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission"),
        (status = 404, description = "No such resource"),
    ),
    security(("bearer" = []), ("api_key" = []), ("cookie" = [], "csrf" = []))
)]
async fn grant_role(
    State(app): State<AppState>,
    auth: Authorized<RolesWrite>,
    Client(ctx): Client,
    Path(id): Path<String>,
    body: Fields,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let mut errors = FieldErrors::default();
    let Some(role) = body.required("role", Text::Trimmed, &mut errors) else {
        return Err(ApiError::validation(&errors));
    };
    let user = app.grant_role(&auth.actor, id, &role, &ctx).await?;
    Ok(no_store(Json(user)))
}

#[utoipa::path(
    delete,
    path = "/users/{id}/roles/{role}",
    summary = "Take a role away (`roles:write`)",
    params(("id" = String, Path, description = "The user id"), ("role" = String, Path, description = "The role name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission"),
        (status = 404, description = "No such resource"),
    ),
    security(("bearer" = []), ("api_key" = []), ("cookie" = [], "csrf" = []))
)]
async fn revoke_role(
    State(app): State<AppState>,
    auth: Authorized<RolesWrite>,
    Client(ctx): Client,
    Path((id, role)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    app.revoke_role(&auth.actor, path_id(&id)?, &role, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    get,
    path = "/audit",
    summary = "Read the audit trail (`audit:read`)",
    params(("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "At most this many, default 50"), ("user_id" = Option<i64>, Query, minimum = 1, description = "Only this user's events"), ("event" = Option<String>, Query, description = "Only this event"), ("before" = Option<i64>, Query, minimum = 1, description = "Only events older than this id")),
    responses(
        (status = 200, description = "Events, newest first", body = doc::AuditPage),
        (status = 400, description = "Invalid or missing fields (`VALIDATION_ERROR`)"),
        (status = 401, description = "Not signed in, or the token is invalid (`UNAUTHORIZED`, `TOKEN_INVALID`)"),
        (status = 403, description = "Lacks the permission"),
    ),
    security(("bearer" = []), ("api_key" = []), ("cookie" = [], "csrf" = []))
)]
async fn audit(
    State(app): State<AppState>,
    _: Authorized<AuditRead>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::default();
    let limit = query_number(&query, "limit", 50, 1..=500, &mut errors);
    let user_id = query
        .contains_key("user_id")
        .then(|| query_number(&query, "user_id", 0, 1..=i64::MAX, &mut errors));
    let before_id = query
        .contains_key("before")
        .then(|| query_number(&query, "before", 0, 1..=i64::MAX, &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::validation(&errors));
    }
    let filter = AuditFilter {
        user_id,
        event: query.get("event").map(String::as_str),
        before_id,
        limit,
    };
    let items = app.audit_events(&filter).await?;
    Ok(no_store(Json(json!({"items": items}))))
}
