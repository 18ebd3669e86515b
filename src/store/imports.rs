use std::collections::HashMap;

use super::{Db, Result, Store, on_db};

/// A user as an import sees it, to decide between create, update and skip.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExistingUser {
    pub id: i64,
    pub username: String,
    pub username_key: String,
    pub email: String,
    pub email_key: Option<String>,
    pub password_hash: String,
    /// The hash the last import wrote; `None` for users Castellan created itself.
    pub imported_password_hash: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_superuser: bool,
}

/// One user an import writes: a new one (`id` is the kept legacy id, if any) or an update
/// of user `id`. `roles: None` leaves an updated user's roles alone.
#[derive(Debug, Clone)]
pub struct ImportedUser {
    pub id: Option<i64>,
    pub username: String,
    pub username_key: String,
    pub email: String,
    pub email_key: Option<String>,
    pub password_hash: String,
    pub imported_password_hash: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_superuser: bool,
    pub created_at: i64,
    pub roles: Option<Vec<String>>,
}

impl Store {
    /// Every user with its roles, for an import's plan.
    pub async fn users_for_import(&self) -> Result<(Vec<ExistingUser>, HashMap<i64, Vec<String>>)> {
        let users = "SELECT id, username, username_key, email, email_key, password_hash, \
                     imported_password_hash, first_name, last_name, is_active, is_superuser \
                     FROM users ORDER BY id";
        let roles = "SELECT user_id, role FROM user_roles ORDER BY user_id, role";
        let (users, pairs): (Vec<ExistingUser>, Vec<(i64, String)>) = on_db!(self.db(), pool => (
            sqlx::query_as(users).fetch_all(pool).await?,
            sqlx::query_as(roles).fetch_all(pool).await?,
        ));
        let mut by_user: HashMap<i64, Vec<String>> = HashMap::new();
        for (user, role) in pairs {
            by_user.entry(user).or_default().push(role);
        }
        Ok((users, by_user))
    }

    pub async fn role_names(&self) -> Result<Vec<String>> {
        let sql = "SELECT name FROM roles ORDER BY name";
        Ok(on_db!(self.db(), pool => sqlx::query_scalar(sql).fetch_all(pool).await?))
    }

    /// Writes a whole import in one transaction: all of it or none of it. New users with a
    /// kept id go first; on PostgreSQL the id sequence is then moved past them (SQLite's
    /// AUTOINCREMENT follows explicit ids by itself), so users created later never collide.
    pub async fn apply_import(
        &self,
        updates: &[ImportedUser],
        creates: &[ImportedUser],
        now: i64,
    ) -> Result<()> {
        let _changed = self.changing_users();
        let update = "UPDATE users SET email = $1, email_key = $2, password_hash = $3, \
                      imported_password_hash = $4, first_name = $5, last_name = $6, is_active = $7, \
                      is_superuser = $8, updated_at = $9 WHERE id = $10";
        let insert_with_id = "INSERT INTO users (id, username, username_key, email, email_key, \
                              password_hash, imported_password_hash, first_name, last_name, is_active, \
                              is_superuser, created_at, updated_at) \
                              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id";
        let insert = "INSERT INTO users (username, username_key, email, email_key, password_hash, \
                      imported_password_hash, first_name, last_name, is_active, is_superuser, \
                      created_at, updated_at) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id";
        let clear_roles = "DELETE FROM user_roles WHERE user_id = $1";
        let add_role = "INSERT INTO user_roles (user_id, role) VALUES ($1, $2)";
        let advance_sequence =
            "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT MAX(id) FROM users))";
        let postgres = matches!(self.db(), Db::Postgres(_));
        let (kept_ids, new_ids): (Vec<&ImportedUser>, Vec<&ImportedUser>) =
            creates.iter().partition(|u| u.id.is_some());
        on_db!(self.db(), pool => {
            let mut tx = pool.begin().await?;
            for u in updates {
                let Some(id) = u.id else { continue };
                sqlx::query(update)
                    .bind(&u.email).bind(&u.email_key).bind(&u.password_hash)
                    .bind(&u.imported_password_hash).bind(&u.first_name).bind(&u.last_name)
                    .bind(u.is_active).bind(u.is_superuser).bind(now).bind(id)
                    .execute(&mut *tx).await?;
                if let Some(roles) = &u.roles {
                    sqlx::query(clear_roles).bind(id).execute(&mut *tx).await?;
                    for role in roles {
                        sqlx::query(add_role).bind(id).bind(role).execute(&mut *tx).await?;
                    }
                }
            }
            let mut sequence_due = postgres && !kept_ids.is_empty();
            for u in kept_ids.iter().chain(new_ids.iter()) {
                if sequence_due && u.id.is_none() {
                    sqlx::query(advance_sequence).execute(&mut *tx).await?;
                    sequence_due = false;
                }
                let query = match u.id {
                    Some(id) => sqlx::query_scalar(insert_with_id).bind(id),
                    None => sqlx::query_scalar(insert),
                };
                let id: i64 = query
                    .bind(&u.username).bind(&u.username_key).bind(&u.email).bind(&u.email_key)
                    .bind(&u.password_hash).bind(&u.imported_password_hash).bind(&u.first_name)
                    .bind(&u.last_name).bind(u.is_active).bind(u.is_superuser)
                    .bind(u.created_at).bind(now)
                    .fetch_one(&mut *tx).await?;
                for role in u.roles.iter().flatten() {
                    sqlx::query(add_role).bind(id).bind(role).execute(&mut *tx).await?;
                }
            }
            if sequence_due {
                sqlx::query(advance_sequence).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
