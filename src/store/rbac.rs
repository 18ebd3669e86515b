//! Roles, their permissions, and who holds them.

use super::{Result, Store, on_db};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRow {
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
}

impl Store {
    /// Every permission the user holds through its roles.
    pub async fn user_permissions(&self, user_id: i64) -> Result<Vec<String>> {
        let sql = "SELECT DISTINCT rp.permission FROM user_roles ur \
                   JOIN role_permissions rp ON rp.role = ur.role WHERE ur.user_id = $1 ORDER BY rp.permission";
        Ok(on_db!(self.db(), pool => sqlx::query_scalar(sql).bind(user_id).fetch_all(pool).await?))
    }

    pub async fn roles(&self) -> Result<Vec<RoleRow>> {
        let sql = "SELECT r.name, r.description, rp.permission FROM roles r \
                   LEFT JOIN role_permissions rp ON rp.role = r.name ORDER BY r.name, rp.permission";
        let rows: Vec<(String, String, Option<String>)> =
            on_db!(self.db(), pool => sqlx::query_as(sql).fetch_all(pool).await?);
        let mut roles: Vec<RoleRow> = Vec::new();
        for (name, description, permission) in rows {
            if roles.last().is_none_or(|r| r.name != name) {
                roles.push(RoleRow {
                    name,
                    description,
                    permissions: Vec::new(),
                });
            }
            if let (Some(p), Some(role)) = (permission, roles.last_mut()) {
                role.permissions.push(p);
            }
        }
        Ok(roles)
    }

    pub async fn role(&self, name: &str) -> Result<Option<RoleRow>> {
        Ok(self.roles().await?.into_iter().find(|r| r.name == name))
    }

    /// Creates a role with its permissions; `Conflict` if the name is taken.
    pub async fn create_role(&self, role: &RoleRow, now: i64) -> Result<()> {
        on_db!(self.db(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO roles (name, description, created_at) VALUES ($1, $2, $3)")
                .bind(&role.name).bind(&role.description).bind(now).execute(&mut *tx).await?;
            for p in &role.permissions {
                sqlx::query("INSERT INTO role_permissions (role, permission) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(&role.name).bind(p).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Gives the user the role; true if it was not held before.
    pub async fn grant_role(&self, user_id: i64, role: &str) -> Result<bool> {
        let _changed = self.changing_users();
        let sql = "INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING";
        let n = on_db!(self.db(), pool => sqlx::query(sql).bind(user_id).bind(role)
            .execute(pool).await?.rows_affected());
        Ok(n == 1)
    }

    /// Takes the role away; false if the user did not hold it.
    pub async fn revoke_role(&self, user_id: i64, role: &str) -> Result<bool> {
        let _changed = self.changing_users();
        let sql = "DELETE FROM user_roles WHERE user_id = $1 AND role = $2";
        let n = on_db!(self.db(), pool => sqlx::query(sql).bind(user_id).bind(role)
            .execute(pool).await?.rows_affected());
        Ok(n == 1)
    }
}
