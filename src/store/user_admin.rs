//! What administrators do to users: search, edit, disable, delete. Disabling and deleting
//! end every session and API key of the user in the same transaction.

use super::{
    Result, Store, UserRow, on_db,
    sessions::{Revocation, Revoke, revoke_in, revoke_where},
};

/// Changes to a user; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct UserChanges<'a> {
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    /// New address and its lookup key; the address then needs verifying again.
    pub email: Option<(&'a str, &'a str)>,
    pub is_active: Option<bool>,
}

const SEARCH: &str =
    "($1 = '' OR username_key LIKE $1 ESCAPE '\\' OR email_key LIKE $1 ESCAPE '\\')";

const REVOKE_KEYS: &str =
    "UPDATE api_keys SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL";

/// The LIKE pattern for a search term (`%` and `_` in it are literal); '' matches all.
pub fn search_pattern(q: &str) -> String {
    let q = q.trim().to_lowercase();
    if q.is_empty() {
        return q;
    }
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

impl Store {
    /// The user whose email address (not username) has this lookup key.
    pub async fn find_user_by_email(&self, key: &str) -> Result<Option<UserRow>> {
        let sql = "SELECT id, username, email, password_hash, first_name, last_name, is_active, \
                   is_superuser, email_verified, mfa_enabled, created_at FROM users WHERE email_key = $1";
        Ok(on_db!(self.db(), pool => sqlx::query_as(sql).bind(key).fetch_optional(pool).await?))
    }

    /// A page of users matching `pattern` (see `search_pattern`), oldest first, with the
    /// roles of each, and the number of all matches.
    pub async fn search_users(
        &self,
        pattern: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<(UserRow, Vec<String>)>, i64)> {
        let count = format!("SELECT COUNT(*) FROM users WHERE {SEARCH}");
        let page = format!(
            "SELECT id, username, email, password_hash, first_name, last_name, is_active, \
             is_superuser, email_verified, mfa_enabled, created_at FROM users WHERE {SEARCH} \
             ORDER BY id LIMIT $2 OFFSET $3"
        );
        let roles = format!(
            "SELECT user_id, role FROM user_roles WHERE user_id IN \
             (SELECT id FROM users WHERE {SEARCH} ORDER BY id LIMIT $2 OFFSET $3) ORDER BY role"
        );
        let (total, rows, grants): (i64, Vec<UserRow>, Vec<(i64, String)>) = on_db!(self.db(), pool => {
            let total = sqlx::query_scalar(sqlx::AssertSqlSafe(count)).bind(pattern).fetch_one(pool).await?;
            let rows = sqlx::query_as(sqlx::AssertSqlSafe(page)).bind(pattern).bind(limit).bind(offset)
                .fetch_all(pool).await?;
            let grants = sqlx::query_as(sqlx::AssertSqlSafe(roles)).bind(pattern).bind(limit).bind(offset)
                .fetch_all(pool).await?;
            (total, rows, grants)
        });
        let users = rows
            .into_iter()
            .map(|u| {
                let mine = grants
                    .iter()
                    .filter(|(id, _)| *id == u.id)
                    .map(|(_, r)| r.clone())
                    .collect();
                (u, mine)
            })
            .collect();
        Ok((users, total))
    }

    /// Applies `c`; when it disables the user, performs `r` (and revokes every API key) in
    /// the same transaction. `None` if there is no such user; else the revoked session ids.
    pub async fn update_user(
        &self,
        id: i64,
        c: &UserChanges<'_>,
        r: &Revocation<'_>,
    ) -> Result<Option<Vec<String>>> {
        let _changed = self.changing_users();
        let update = "UPDATE users SET first_name = COALESCE($1, first_name), \
                      last_name = COALESCE($2, last_name), email = COALESCE($3, email), \
                      email_key = COALESCE($4, email_key), \
                      email_verified = CASE WHEN $3 IS NULL OR $3 = email THEN email_verified ELSE FALSE END, \
                      is_active = COALESCE($5, is_active), updated_at = $6 WHERE id = $7";
        let (email, email_key) = c.email.unzip();
        let ids = on_db!(self.db(), pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(update).bind(c.first_name).bind(c.last_name).bind(email)
                .bind(email_key).bind(c.is_active).bind(r.now).bind(id)
                .execute(&mut *tx).await?.rows_affected();
            if n != 1 {
                tx.rollback().await?;
                return Ok(None);
            }
            let ids = if c.is_active == Some(false) {
                sqlx::query(REVOKE_KEYS).bind(r.now).bind(id).execute(&mut *tx).await?;
                revoke_in!(tx, r)
            } else {
                Vec::new()
            };
            tx.commit().await?;
            ids
        });
        self.publish_revocations(&ids, r.keep_until).await;
        Ok(Some(ids))
    }

    /// Deletes the user after revoking its sessions (so their access tokens die everywhere).
    pub async fn delete_user(&self, id: i64, r: &Revocation<'_>) -> Result<Option<Vec<String>>> {
        let _changed = self.changing_users();
        let ids = on_db!(self.db(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(REVOKE_KEYS).bind(r.now).bind(id).execute(&mut *tx).await?;
            let ids = revoke_in!(tx, r);
            let n = sqlx::query("DELETE FROM users WHERE id = $1").bind(id)
                .execute(&mut *tx).await?.rows_affected();
            if n != 1 {
                tx.rollback().await?;
                return Ok(None);
            }
            tx.commit().await?;
            ids
        });
        self.publish_revocations(&ids, r.keep_until).await;
        Ok(Some(ids))
    }
}
