//! User administration: search, create, edit, disable, delete. Disabling or deleting ends
//! every session and API key of the user at once. Only superusers may create, change or
//! delete superusers.

use serde::Serialize;
use serde_json::json;

use super::{Actor, Core, CoreError, Registration, RequestContext, Result};
use crate::{
    domain::{Email, FieldErrors, User},
    store::{Purpose, Revoke, StoreError, UserChanges, search_pattern},
};

#[derive(Debug, Serialize)]
pub struct UserPage {
    pub items: Vec<User>,
    pub total: i64,
}

/// An administrator's edit; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct UserPatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<Email>,
    pub is_active: Option<bool>,
}

impl Core {
    pub async fn list_users(&self, q: &str, limit: i64, offset: i64) -> Result<UserPage> {
        let (rows, total) = self
            .store
            .search_users(&search_pattern(q), limit, offset)
            .await?;
        let items = rows
            .into_iter()
            .map(|(row, roles)| super::accounts::user_view(row, roles))
            .collect();
        Ok(UserPage { items, total })
    }

    pub async fn admin_create_user(
        &self,
        actor: &Actor,
        r: Registration,
        ctx: &RequestContext,
    ) -> Result<User> {
        if r.is_superuser && !actor.is_superuser {
            return Err(CoreError::Forbidden(
                "Only a superuser can create a superuser",
            ));
        }
        for role in &r.roles {
            self.check_grantable(actor, role, "roles").await?;
        }
        let user = self.register(r, ctx).await?;
        self.audit_by(
            "admin.user_created",
            Some(actor),
            Some(user.id),
            ctx,
            json!({"username": user.username}),
        )
        .await;
        self.user(user.id).await
    }

    pub async fn admin_update_user(
        &self,
        actor: &Actor,
        id: i64,
        patch: UserPatch,
        ctx: &RequestContext,
    ) -> Result<User> {
        let target = self.guard_target(actor, id).await?;
        let email_key = patch.email.as_ref().map(Email::key);
        let changes = UserChanges {
            first_name: patch.first_name.as_deref(),
            last_name: patch.last_name.as_deref(),
            email: patch
                .email
                .as_ref()
                .map(Email::as_str)
                .zip(email_key.as_deref()),
            is_active: patch.is_active,
        };
        let revocation = self.revocation(Revoke::AllOfUser(id), "user_disabled");
        let ids = self
            .store
            .update_user(id, &changes, &revocation)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => CoreError::UserExists(FieldErrors::single(
                    "email",
                    "A user with that email already exists.",
                )),
                other => other.into(),
            })?
            .ok_or(CoreError::NotFound)?;
        self.announce(&ids, revocation.keep_until).await;
        let revoked = self.revoked_locally(ids, revocation.keep_until);
        let user = self.user(id).await?;
        if patch.email.is_some() && user.email != target.email {
            // Links sent to the old address must not verify the new one.
            self.store.drop_one_time(id, Purpose::VerifyEmail).await?;
            self.queue_verification(&user).await?;
        }
        let fields: Vec<&str> = [
            ("first_name", patch.first_name.is_some()),
            ("last_name", patch.last_name.is_some()),
            ("email", patch.email.is_some()),
            ("is_active", patch.is_active.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        self.audit_by(
            "admin.user_updated",
            Some(actor),
            Some(id),
            ctx,
            json!({"fields": fields, "is_active": user.is_active, "sessions_revoked": revoked}),
        )
        .await;
        Ok(user)
    }

    pub async fn admin_delete_user(
        &self,
        actor: &Actor,
        id: i64,
        ctx: &RequestContext,
    ) -> Result<()> {
        let target = self.guard_target(actor, id).await?;
        let revocation = self.revocation(Revoke::AllOfUser(id), "user_deleted");
        let ids = self
            .store
            .delete_user(id, &revocation)
            .await?
            .ok_or(CoreError::NotFound)?;
        self.announce(&ids, revocation.keep_until).await;
        let revoked = self.revoked_locally(ids, revocation.keep_until);
        self.audit_by(
            "admin.user_deleted",
            Some(actor),
            Some(id),
            ctx,
            json!({"username": target.username, "sessions_revoked": revoked}),
        )
        .await;
        Ok(())
    }

    /// A user's own edit of their names.
    pub async fn update_profile(
        &self,
        user_id: i64,
        first_name: Option<String>,
        last_name: Option<String>,
        ctx: &RequestContext,
    ) -> Result<User> {
        let changes = UserChanges {
            first_name: first_name.as_deref(),
            last_name: last_name.as_deref(),
            ..UserChanges::default()
        };
        let unused = self.revocation(Revoke::AllOfUser(user_id), "profile");
        self.store
            .update_user(user_id, &changes, &unused)
            .await?
            .ok_or(CoreError::TokenInvalid)?;
        self.audit("user.profile_updated", Some(user_id), ctx, json!({}))
            .await;
        self.user(user_id).await
    }

    /// The user an admin action targets; superusers are off limits to everyone else.
    async fn guard_target(&self, actor: &Actor, id: i64) -> Result<User> {
        let target = self.user(id).await?;
        if target.is_superuser && !actor.is_superuser {
            return Err(CoreError::Forbidden(
                "Only a superuser can change a superuser",
            ));
        }
        Ok(target)
    }
}
