use tokio::sync::oneshot;

use super::{
    Db, Result, Store, StoreError, on_db,
    writer::{REMEMBER_TOKEN, RotationJob, RotationOutcome},
};

/// The rotation writer task is gone: only while the runtime shuts down.
fn writer_gone() -> StoreError {
    StoreError::Unavailable(sqlx::Error::WorkerCrashed)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub user_id: i64,
    pub current_hash: String,
    pub previous_hash: Option<String>,
    pub rotated_at: Option<i64>,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A session found through one of its refresh tokens, with its owner's state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshLookup {
    #[sqlx(flatten)]
    pub session: SessionRow,
    pub user_active: bool,
}

pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: i64,
    pub refresh_hash: &'a str,
    pub now: i64,
    pub expires_at: i64,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// Which sessions a revocation ends.
#[derive(Clone, Copy)]
pub enum Revoke<'a> {
    One(&'a str),
    AllOfUser(i64),
    AllOfUserExcept(i64, &'a str),
}

/// A revocation: which sessions, why, when, and until when the record matters (the longest
/// an access token of these sessions can live).
pub struct Revocation<'a> {
    pub which: Revoke<'a>,
    pub reason: &'a str,
    pub now: i64,
    pub keep_until: i64,
}

macro_rules! revoke_where {
    ($filter:literal) => {
        concat!(
            "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE revoked_at IS NULL AND ",
            $filter,
            " RETURNING id"
        )
    };
}

/// Marks the sessions revoked and records them, inside the caller's transaction `$tx`;
/// evaluates to the revoked ids.
macro_rules! revoke_in {
    ($tx:ident, $r:expr) => {{
        let r: &Revocation<'_> = $r;
        let update = match r.which {
            Revoke::One(_) => revoke_where!("id = $3"),
            Revoke::AllOfUser(_) => revoke_where!("user_id = $3"),
            Revoke::AllOfUserExcept(..) => revoke_where!("user_id = $3 AND id <> $4"),
        };
        let query = sqlx::query_scalar(update).bind(r.now).bind(r.reason);
        let query = match r.which {
            Revoke::One(id) => query.bind(id),
            Revoke::AllOfUser(user) => query.bind(user),
            Revoke::AllOfUserExcept(user, id) => query.bind(user).bind(id),
        };
        let ids: Vec<String> = query.fetch_all(&mut *$tx).await?;
        let record = "INSERT INTO revocations (session_id, revoked_at, expires_at) VALUES ($1, $2, $3) \
                      ON CONFLICT (session_id) DO NOTHING";
        for sid in &ids {
            sqlx::query(record).bind(sid).bind(r.now).bind(r.keep_until).execute(&mut *$tx).await?;
        }
        ids
    }};
}
pub(super) use {revoke_in, revoke_where};

/// A new session: id $1, user $2, first refresh-token hash $3, started $4, expires $5,
/// ip $6, user agent $7.
macro_rules! insert_session {
    () => {
        "INSERT INTO sessions (id, user_id, current_hash, created_at, last_used_at, expires_at, ip, user_agent) \
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7)"
    };
}

macro_rules! session_columns {
    () => {
        "s.id, s.user_id, s.current_hash, s.previous_hash, s.rotated_at, s.created_at, \
         s.last_used_at, s.expires_at, s.revoked_at, s.ip, s.user_agent"
    };
}

/// Sessions found through refresh tokens `rt` matching `$filter`, with their owners' state
/// (and `$extra` columns).
macro_rules! refresh_lookup {
    ($filter:literal) => {
        refresh_lookup!("", $filter)
    };
    ($extra:literal, $filter:literal) => {
        concat!(
            "SELECT ",
            session_columns!(),
            ", u.is_active AS user_active",
            $extra,
            " FROM refresh_tokens rt \
             JOIN sessions s ON s.id = rt.session_id JOIN users u ON u.id = s.user_id WHERE ",
            $filter
        )
    };
}
pub(super) use {refresh_lookup, session_columns};

impl Store {
    pub async fn create_session(&self, s: &NewSession<'_>) -> Result<()> {
        match self.db() {
            Db::Sqlite(pool) => {
                let _turn = self.write_turn().await;
                let mut tx = pool.begin().await?;
                sqlx::query(insert_session!())
                    .bind(s.id)
                    .bind(s.user_id)
                    .bind(s.refresh_hash)
                    .bind(s.now)
                    .bind(s.expires_at)
                    .bind(s.ip)
                    .bind(s.user_agent)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(REMEMBER_TOKEN)
                    .bind(s.refresh_hash)
                    .bind(s.id)
                    .bind(s.now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            Db::Postgres(pool) => {
                // One statement, one round trip: the token's foreign key is checked at the
                // end of the statement, when the session row exists.
                let sql = concat!(
                    "WITH started AS (",
                    insert_session!(),
                    " RETURNING id) \
                     INSERT INTO refresh_tokens (hash, session_id, created_at) SELECT $3, id, $4 FROM started"
                );
                sqlx::query(sql)
                    .bind(s.id)
                    .bind(s.user_id)
                    .bind(s.refresh_hash)
                    .bind(s.now)
                    .bind(s.expires_at)
                    .bind(s.ip)
                    .bind(s.user_agent)
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// The session any refresh token ever issued for it belongs to.
    pub async fn find_by_refresh_hash(&self, hash: &str) -> Result<Option<RefreshLookup>> {
        let sql = refresh_lookup!("rt.hash = $1");
        Ok(on_db!(self.db(), pool => sqlx::query_as(sql).bind(hash).fetch_optional(pool).await?))
    }

    pub async fn find_session(&self, id: &str) -> Result<Option<SessionRow>> {
        let sql = concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions s WHERE s.id = $1"
        );
        Ok(on_db!(self.db(), pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await?))
    }

    /// The session of the refresh token `presented` (a hash), and whether this call rotated
    /// it to `successor`: it does when `presented` is the session's current token, the
    /// session is neither revoked nor expired at `now`, and its user is active. Of any number
    /// of concurrent callers with one token, exactly one rotates. Answers only once the
    /// rotation is committed. The rotation goes through the group-committing writer
    /// (`writer.rs`); the session is as it was after the rotation on SQLite, before it on
    /// PostgreSQL.
    pub async fn find_and_rotate(
        &self,
        presented: &str,
        successor: &str,
        now: i64,
    ) -> Result<RotationOutcome> {
        let (answer, answered) = oneshot::channel();
        let job = RotationJob {
            presented: presented.to_owned(),
            successor: successor.to_owned(),
            now,
            answer,
        };
        self.rotations.send(job).map_err(|_| writer_gone())?;
        answered.await.map_err(|_| writer_gone())?
    }

    /// Records use of a session whose refresh token is kept rather than rotated.
    pub async fn touch_session(&self, id: &str, now: i64) -> Result<()> {
        let sql = "UPDATE sessions SET last_used_at = $1 WHERE id = $2";
        let _turn = self.write_turn().await;
        on_db!(self.db(), pool => sqlx::query(sql).bind(now).bind(id).execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// Records the revocation of a credential that has no session row (a legacy access
    /// token), so every instance refuses it until `keep_until`.
    pub async fn record_revocation(&self, sid: &str, now: i64, keep_until: i64) -> Result<()> {
        let sql = "INSERT INTO revocations (session_id, revoked_at, expires_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (session_id) DO NOTHING";
        on_db!(self.db(), pool => sqlx::query(sql).bind(sid).bind(now).bind(keep_until)
            .execute(pool).await.map(|_| ())?);
        self.publish_revocations(&[sid.to_owned()], keep_until)
            .await;
        Ok(())
    }

    /// Ends sessions and records their ids for every instance's revocation view.
    /// Returns the ids that this call revoked.
    pub async fn revoke_sessions(&self, r: &Revocation<'_>) -> Result<Vec<String>> {
        let ids = on_db!(self.db(), pool => {
            let mut tx = pool.begin().await?;
            let ids = revoke_in!(tx, r);
            tx.commit().await?;
            ids
        });
        self.publish_revocations(&ids, r.keep_until).await;
        Ok(ids)
    }

    /// Replaces a password hash (only if it is still `old_hash`) and performs `r`, in one
    /// transaction. `None` when the hash changed underneath.
    pub async fn change_password(
        &self,
        user_id: i64,
        old_hash: &str,
        new_hash: &str,
        r: &Revocation<'_>,
    ) -> Result<Option<Vec<String>>> {
        let _changed = self.changing_users();
        let update = "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3 AND password_hash = $4";
        let ids = on_db!(self.db(), pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(update).bind(new_hash).bind(r.now).bind(user_id).bind(old_hash)
                .execute(&mut *tx).await?.rows_affected() == 1;
            if !changed {
                tx.rollback().await?;
                return Ok(None);
            }
            let ids = revoke_in!(tx, r);
            tx.commit().await?;
            ids
        });
        self.publish_revocations(&ids, r.keep_until).await;
        Ok(Some(ids))
    }

    /// Revocations recorded at or after `since` that still matter at `now`.
    pub async fn revocations_since(&self, since: i64, now: i64) -> Result<Vec<(String, i64)>> {
        let sql = "SELECT session_id, expires_at FROM revocations WHERE revoked_at >= $1 AND expires_at > $2";
        Ok(
            on_db!(self.db(), pool => sqlx::query_as(sql).bind(since).bind(now).fetch_all(pool).await?),
        )
    }

    /// Forgets revocation records and refresh history that can no longer matter.
    pub async fn prune_expired(&self, now: i64) -> Result<()> {
        on_db!(self.db(), pool => {
            sqlx::query("DELETE FROM revocations WHERE expires_at <= $1").bind(now).execute(pool).await?;
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now).execute(pool).await?;
        });
        Ok(())
    }
}
