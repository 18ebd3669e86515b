use super::{
    Result, Store,
    federation::{INSERT_IDENTITY, NewIdentity},
    on_db,
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_superuser: bool,
    pub email_verified: bool,
    pub mfa_enabled: bool,
    pub created_at: i64,
}

pub struct NewUserRow<'a> {
    pub username: &'a str,
    pub username_key: &'a str,
    /// Empty when the user has no email address.
    pub email: &'a str,
    /// `None` when the user has no email address.
    pub email_key: Option<&'a str>,
    pub password_hash: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub is_superuser: bool,
    pub roles: &'a [String],
    pub now: i64,
}

macro_rules! user_columns {
    () => {
        "id, username, email, password_hash, first_name, last_name, is_active, \
         is_superuser, email_verified, mfa_enabled, created_at"
    };
}

impl Store {
    /// Inserts the user and its roles in one transaction; unknown roles fail the whole insert.
    pub async fn insert_user(&self, u: &NewUserRow<'_>) -> Result<UserRow> {
        self.insert_user_with_identity(u, None).await
    }

    /// As `insert_user`, also linking an upstream identity in the same transaction, so a
    /// failed federated sign-up leaves no half-created user.
    pub async fn insert_user_with_identity(
        &self,
        u: &NewUserRow<'_>,
        identity: Option<&NewIdentity<'_>>,
    ) -> Result<UserRow> {
        let _changed = self.changing_users();
        let sql = concat!(
            "INSERT INTO users (username, username_key, email, email_key, password_hash, first_name, \
             last_name, is_superuser, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING ",
            user_columns!()
        );
        on_db!(self.db(), pool => {
            let mut tx = pool.begin().await?;
            let row: UserRow = sqlx::query_as(sql)
                .bind(u.username).bind(u.username_key).bind(u.email).bind(u.email_key)
                .bind(u.password_hash).bind(u.first_name).bind(u.last_name)
                .bind(u.is_superuser).bind(u.now)
                .fetch_one(&mut *tx).await?;
            for role in u.roles {
                sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                    .bind(row.id).bind(role).execute(&mut *tx).await?;
            }
            if let Some(identity) = identity {
                sqlx::query(INSERT_IDENTITY)
                    .bind(row.id).bind(identity.provider).bind(identity.subject)
                    .bind(identity.email).bind(u.now).execute(&mut *tx).await?;
                if identity.email_verified && !u.email.is_empty() {
                    sqlx::query("UPDATE users SET email_verified = TRUE WHERE id = $1")
                        .bind(row.id).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok(row)
        })
    }

    /// Finds by username, or by email; a username match wins over another user's email.
    pub async fn find_user_by_login(&self, key: &str) -> Result<Option<UserRow>> {
        let sql = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username_key = $1 OR email_key = $1 \
             ORDER BY CASE WHEN username_key = $1 THEN 0 ELSE 1 END LIMIT 1"
        );
        Ok(on_db!(self.db(), pool => sqlx::query_as(sql).bind(key).fetch_optional(pool).await?))
    }

    pub async fn find_user(&self, id: i64) -> Result<Option<UserRow>> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
        Ok(on_db!(self.db(), pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await?))
    }

    pub async fn user_roles(&self, id: i64) -> Result<Vec<String>> {
        let sql = "SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role";
        Ok(on_db!(self.db(), pool => sqlx::query_scalar(sql).bind(id).fetch_all(pool).await?))
    }

    pub async fn role_exists(&self, name: &str) -> Result<bool> {
        let sql = "SELECT COUNT(*) FROM roles WHERE name = $1";
        let n: i64 =
            on_db!(self.db(), pool => sqlx::query_scalar(sql).bind(name).fetch_one(pool).await?);
        Ok(n > 0)
    }

    /// Replaces the hash only if it is still the one that was verified (no lost update).
    pub async fn replace_password_hash(
        &self,
        id: i64,
        old: &str,
        new: &str,
        now: i64,
    ) -> Result<bool> {
        let _changed = self.changing_users();
        let sql = "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3 AND password_hash = $4";
        let done = on_db!(self.db(), pool => sqlx::query(sql).bind(new).bind(now).bind(id).bind(old)
            .execute(pool).await?.rows_affected());
        Ok(done == 1)
    }
}
