//! Role-based access: roles hold permissions, users hold roles, superusers hold every
//! permission. An API key acts for its owner limited to its scopes. Permissions are read
//! from the database on each check, so taking a role away is effective at once.

use serde_json::json;

use super::{Core, CoreError, RequestContext, Result};
use crate::{
    domain::{FieldErrors, User},
    store::{RoleRow, StoreError},
};

/// The permissions the admin API checks.
pub mod perms {
    pub const USERS_READ: &str = "users:read";
    pub const USERS_WRITE: &str = "users:write";
    pub const ROLES_READ: &str = "roles:read";
    pub const ROLES_WRITE: &str = "roles:write";
    pub const AUDIT_READ: &str = "audit:read";
    pub const CLIENTS_READ: &str = "clients:read";
    pub const CLIENTS_WRITE: &str = "clients:write";
}

/// Who is acting, and what they may do.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: i64,
    pub is_superuser: bool,
    /// Set when acting through an API key.
    pub api_key: Option<String>,
    /// Held permissions (for a superuser without a key: none listed, all allowed).
    permissions: Vec<String>,
}

impl Actor {
    /// The operator at the command line: unrestricted, and recorded as no user.
    pub fn operator() -> Self {
        Self {
            user_id: 0,
            is_superuser: true,
            api_key: None,
            permissions: Vec::new(),
        }
    }

    pub fn can(&self, permission: &str) -> bool {
        (self.is_superuser && self.api_key.is_none())
            || self.permissions.iter().any(|p| p == permission)
    }
}

impl Core {
    /// The actor for a user, limited to `scopes` when acting through an API key.
    pub async fn actor(&self, user_id: i64, key: Option<(&str, &[String])>) -> Result<Actor> {
        let row = self
            .store
            .find_user(user_id)
            .await?
            .filter(|u| u.is_active)
            .ok_or(CoreError::TokenInvalid)?;
        let held = self.store.user_permissions(user_id).await?;
        let permissions = match key {
            Some((_, scopes)) => scopes
                .iter()
                .filter(|s| row.is_superuser || held.contains(s))
                .cloned()
                .collect(),
            None => held,
        };
        Ok(Actor {
            user_id,
            is_superuser: row.is_superuser,
            api_key: key.map(|(id, _)| id.to_owned()),
            permissions,
        })
    }

    pub async fn roles(&self) -> Result<Vec<RoleRow>> {
        Ok(self.store.roles().await?)
    }

    /// A new role. Nobody can create a role with permissions they do not hold themselves.
    pub async fn create_role(
        &self,
        actor: &Actor,
        role: RoleRow,
        ctx: &RequestContext,
    ) -> Result<RoleRow> {
        let mut errors = FieldErrors::default();
        if !valid_name(&role.name, false) {
            errors.add(
                "name",
                "Use 1-64 characters: letters, digits, `-`, `_`, `.`.",
            );
        }
        if role.permissions.iter().any(|p| !valid_name(p, true)) {
            errors.add(
                "permissions",
                "Use names like `users:read` (letters, digits, `-_.:*`).",
            );
        }
        if !errors.is_empty() {
            return Err(CoreError::Validation(errors));
        }
        if let Some(p) = role.permissions.iter().find(|p| !actor.can(p)) {
            tracing::debug!(permission = %p, "role creation beyond the actor's own permissions");
            return Err(CoreError::Forbidden(
                "You cannot grant a permission you do not hold",
            ));
        }
        self.store
            .create_role(&role, self.clock.now())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => CoreError::Conflict {
                    code: "ROLE_EXISTS",
                    message: "A role with that name already exists",
                },
                other => other.into(),
            })?;
        self.audit_by(
            "role.created",
            Some(actor),
            None,
            ctx,
            json!({"role": role.name, "permissions": role.permissions}),
        )
        .await;
        Ok(role)
    }

    /// Gives a user a role (effective on the user's next token). Nobody can hand out a role
    /// with permissions they do not hold themselves.
    pub async fn grant_role(
        &self,
        actor: &Actor,
        user_id: i64,
        role: &str,
        ctx: &RequestContext,
    ) -> Result<User> {
        let target = self.user(user_id).await?;
        self.check_grantable(actor, role, "role").await?;
        if self.store.grant_role(target.id, role).await? {
            self.audit_by(
                "role.granted",
                Some(actor),
                Some(target.id),
                ctx,
                json!({"role": role}),
            )
            .await;
        }
        self.user(user_id).await
    }

    /// Refuses unknown roles, and roles with permissions the actor does not hold.
    pub(crate) async fn check_grantable(
        &self,
        actor: &Actor,
        role: &str,
        field: &str,
    ) -> Result<()> {
        let row = self.store.role(role).await?.ok_or_else(|| {
            CoreError::Validation(FieldErrors::single(
                field,
                format!("Unknown role `{role}`."),
            ))
        })?;
        if row.permissions.iter().any(|p| !actor.can(p)) {
            return Err(CoreError::Forbidden(
                "You cannot grant a permission you do not hold",
            ));
        }
        Ok(())
    }

    /// Takes a role away; sessions and keys stay, the next token lacks the role.
    pub async fn revoke_role(
        &self,
        actor: &Actor,
        user_id: i64,
        role: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        if !self.store.revoke_role(user_id, role).await? {
            return Err(CoreError::NotFound);
        }
        self.audit_by(
            "role.revoked",
            Some(actor),
            Some(user_id),
            ctx,
            json!({"role": role}),
        )
        .await;
        Ok(())
    }
}

/// Role names: `[A-Za-z0-9_.-]{1,64}`; permissions may also hold `:` and `*`.
fn valid_name(s: &str, permission: bool) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || b"-_.".contains(&b) || (permission && b":*".contains(&b))
        })
}
