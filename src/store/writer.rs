//! SQLite admits one writer at a time. Connections that find the write lock taken wait in
//! SQLite's busy handler, which sleeps in steps growing to 100 ms, so under concurrent writes
//! most of the time goes to sleeping and the tail latency grows to seconds. Write
//! transactions therefore queue here first, in this process, and reach SQLite one at a time.
//!
//! Refresh-token rotations, the hottest write, go further: with `synchronous=FULL` every
//! commit waits for an fsync, so one transaction per rotation caps the rate at one rotation
//! per fsync. They are handed to one task that applies every rotation waiting at that moment
//! (up to `ROTATION_BATCH`) in one transaction and answers each caller only after its commit
//! (group commit). Nothing is answered before it is durable, and no rotation waits for
//! company: a lone rotation is committed at once, and rotations that arrive during a commit
//! form the next batch.
//!
//! PostgreSQL has row locks and already groups concurrent commits' WAL flushes; it needs no
//! queue.

use std::sync::Arc;

use sqlx::SqlitePool;
use tokio::sync::{Mutex, MutexGuard, mpsc, oneshot};

use super::{Db, Result, Store};

/// The most rotations applied in one transaction. Large enough that a full batch spreads
/// one fsync over many requests; small enough that the transaction stays short (two indexed
/// statements per rotation) and the batch's own callers are not held long.
const ROTATION_BATCH: usize = 64;

/// Moves the session `$id` from the token hash `$presented` to `successor` ($1) at $2 if
/// `presented` is still current and the session is not revoked. Only the row that still
/// carries `presented` can change, so of any number of concurrent rotations of one session
/// exactly one wins.
macro_rules! rotate_sql {
    ($id:literal, $presented:literal) => {
        concat!(
            "UPDATE sessions SET previous_hash = current_hash, current_hash = $1, rotated_at = $2, \
             last_used_at = $2 WHERE id = ",
            $id,
            " AND current_hash = ",
            $presented,
            " AND revoked_at IS NULL"
        )
    };
}
pub(super) use rotate_sql;
/// Remembers an issued refresh token, so that presenting it later finds its session.
pub(super) const REMEMBER_TOKEN: &str =
    "INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)";

/// One rotation waiting for the writer, and where its answer goes.
pub(super) struct RotationJob {
    pub session_id: String,
    pub presented: String,
    pub successor: String,
    pub now: i64,
    pub answer: oneshot::Sender<Result<bool>>,
}

/// Where rotations are queued for the SQLite writer task.
pub(super) type Rotations = mpsc::UnboundedSender<RotationJob>;

/// Starts the task that applies queued rotations in batches; it ends when every sender (every
/// clone of the store) is gone.
pub(super) fn spawn_rotation_writer(pool: SqlitePool, turn: Arc<Mutex<()>>) -> Rotations {
    let (sender, mut receiver) = mpsc::unbounded_channel::<RotationJob>();
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(ROTATION_BATCH);
        while receiver.recv_many(&mut batch, ROTATION_BATCH).await > 0 {
            // Session creation and other hot writes take the same turn, so they interleave
            // with batches instead of meeting SQLite's busy handler.
            let _turn = turn.lock().await;
            match apply(&pool, &batch).await {
                Ok(won) => {
                    for (job, won) in batch.drain(..).zip(won) {
                        let _ = job.answer.send(Ok(won));
                    }
                }
                // Nothing of the batch was committed. Apply each rotation on its own, so a
                // rotation that fails answers with its own error and the others still pass.
                Err(_) => {
                    for job in batch.drain(..) {
                        let outcome = apply(&pool, std::slice::from_ref(&job)).await;
                        let _ = job.answer.send(outcome.map(|won| won[0]));
                    }
                }
            }
        }
    });
    sender
}

/// Applies `jobs` in one transaction; which of them won, in order.
async fn apply(pool: &SqlitePool, jobs: &[RotationJob]) -> Result<Vec<bool>> {
    let mut tx = pool.begin().await?;
    let mut won = Vec::with_capacity(jobs.len());
    for job in jobs {
        let moved = sqlx::query(rotate_sql!("$3", "$4"))
            .bind(&job.successor)
            .bind(job.now)
            .bind(&job.session_id)
            .bind(&job.presented)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if moved {
            sqlx::query(REMEMBER_TOKEN)
                .bind(&job.successor)
                .bind(&job.session_id)
                .bind(job.now)
                .execute(&mut *tx)
                .await?;
        }
        won.push(moved);
    }
    tx.commit().await?;
    Ok(won)
}

impl Store {
    /// Waits for this process's turn to write to SQLite; `None` on PostgreSQL.
    pub(super) async fn write_turn(&self) -> Option<MutexGuard<'_, ()>> {
        match self.db() {
            Db::Sqlite(_) => Some(self.writer.lock().await),
            Db::Postgres(_) => None,
        }
    }
}
