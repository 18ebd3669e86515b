//! SQLite admits one writer at a time. Connections that find the write lock taken wait in
//! SQLite's busy handler, which sleeps in steps growing to 100 ms, so under concurrent writes
//! most of the time goes to sleeping and the tail latency grows to seconds. Write
//! transactions therefore queue here first, in this process, and reach SQLite one at a time.
//!
//! Refresh-token rotations, the hottest write, go further, on both backends: they are handed
//! to a writer task (one on SQLite, `POSTGRES_WRITERS` on PostgreSQL) that applies every
//! rotation waiting at that moment (up to `ROTATION_BATCH`) with a fixed number of set-based
//! statements (the batch travels as one parameter) and answers each caller only after the
//! commit (group commit). Nothing is answered before it is durable, and no rotation waits
//! for company: a lone rotation is committed at once, and rotations that arrive during a
//! commit form the next batch. One commit's fsync is shared by the batch, and so are the
//! statements: each is a round trip to SQLite's connection thread or to the PostgreSQL
//! server, and on busy cores waiting for that round trip costs more than the SQL itself.
//!
//! PostgreSQL has row locks, so concurrent batches, of this instance or of others, stay
//! correct: of any number of rotations of one token exactly one moves the session.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    sync::Arc,
    time::Duration,
};

use serde_json::{Value, json};
use sqlx::{PgPool, SqliteConnection, SqlitePool};
use tokio::sync::{Mutex, MutexGuard, Notify, mpsc, oneshot};

use super::{
    Db, Result, Store,
    sessions::{RefreshLookup, refresh_lookup, session_columns},
};

/// The most rotations applied in one transaction. Large enough that a full batch spreads
/// one fsync over many requests; small enough that the transaction stays short and the
/// batch's own callers are not held long.
const ROTATION_BATCH: usize = 64;

/// Batches in flight at once on PostgreSQL.
const POSTGRES_WRITERS: usize = 4;

/// Remembers an issued refresh token, so that presenting it later finds its session.
pub(super) const REMEMBER_TOKEN: &str =
    "INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)";

/// SQLite: opens the batch's transaction and rotates in one statement. $1 is a JSON array
/// of `[presented, successor, now]`: each session whose current token is `presented`, live at
/// `now` and owned by an active user moves to `successor`. Returns the successors that
/// became current.
const ROTATE_BATCH: &str = "BEGIN IMMEDIATE; \
     UPDATE sessions SET previous_hash = current_hash, current_hash = j.successor, \
     rotated_at = j.now, last_used_at = j.now \
     FROM (SELECT value ->> 0 AS presented, value ->> 1 AS successor, value ->> 2 AS now \
           FROM json_each($1)) AS j \
     JOIN refresh_tokens rt ON rt.hash = j.presented \
     WHERE sessions.id = rt.session_id AND sessions.current_hash = j.presented \
       AND sessions.revoked_at IS NULL AND sessions.expires_at > j.now \
       AND EXISTS (SELECT 1 FROM users u WHERE u.id = sessions.user_id AND u.is_active) \
     RETURNING sessions.current_hash";
/// SQLite: remembers the successors of the rotations that happened ($1, in the shape of
/// `ROTATE_BATCH`'s), looks up the sessions of every presented token ($2, a JSON array of
/// hashes) as they are now, and commits.
const FINISH_BATCH: &str = concat!(
    "INSERT INTO refresh_tokens (hash, session_id, created_at) \
     SELECT j.value ->> 1, rt.session_id, j.value ->> 2 FROM json_each($1) AS j \
     JOIN refresh_tokens rt ON rt.hash = j.value ->> 0; ",
    refresh_lookup!(
        ", rt.hash AS presented",
        "rt.hash IN (SELECT value FROM json_each($2))"
    ),
    "; COMMIT"
);

/// PostgreSQL: a batch in one statement, so one round trip and one commit. $1, $2 and $3
/// are the presented hashes, their successors and the times; each rotation happens under
/// the conditions of `ROTATE_BATCH`, and the row lock makes exactly one concurrent caller
/// move a session. The sessions returned are as they were before the statement, with the
/// successor each one moved to.
const ROTATE_BATCH_POSTGRES: &str = concat!(
    "WITH j AS (SELECT * FROM unnest($1::text[], $2::text[], $3::int8[]) AS j(presented, successor, now)), \
     moved AS (UPDATE sessions s SET previous_hash = s.current_hash, current_hash = j.successor, \
       rotated_at = j.now, last_used_at = j.now \
       FROM j JOIN refresh_tokens rt ON rt.hash = j.presented \
       WHERE s.id = rt.session_id AND s.current_hash = j.presented \
         AND s.revoked_at IS NULL AND s.expires_at > j.now \
         AND EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id AND u.is_active) \
       RETURNING s.id, s.current_hash, j.now), \
     remembered AS (INSERT INTO refresh_tokens (hash, session_id, created_at) \
       SELECT current_hash, id, now FROM moved) ",
    refresh_lookup!(
        ", rt.hash AS presented, (SELECT m.current_hash FROM moved m WHERE m.id = s.id) AS rotated_to",
        "rt.hash = ANY($1)"
    )
);

/// What a rotation job is answered: the session of the presented token (`None`: no session
/// has that token) as it is after the batch on SQLite and before it on PostgreSQL, and
/// whether this job rotated it.
pub(super) type RotationOutcome = Option<(RefreshLookup, bool)>;

/// One rotation waiting for the writer, and where its answer goes.
pub(super) struct RotationJob {
    pub presented: String,
    pub successor: String,
    pub now: i64,
    pub answer: oneshot::Sender<Result<RotationOutcome>>,
}

/// Where rotations are queued for the writer tasks.
pub(super) type Rotations = mpsc::UnboundedSender<RotationJob>;

/// Rotations between two checkpoints of SQLite's write-ahead log (about SQLite's own
/// automatic checkpoint interval, at the few pages one rotation changes).
const ROTATIONS_PER_CHECKPOINT: usize = 256;

/// Where a writer's statements go. On SQLite, one connection of its own, out of the pool:
/// its page cache stays warm because no other connection writes between its batches, and
/// it leaves checkpoints of the write-ahead log to the task of `spawn_checkpointer`, which
/// runs them beside the writer instead of inside a batch's commit. On PostgreSQL, the pool.
enum Target {
    Sqlite {
        pool: SqlitePool,
        own: Option<SqliteConnection>,
        checkpoint: Arc<Notify>,
        since_checkpoint: usize,
    },
    Postgres(PgPool),
}

impl Target {
    async fn apply(&mut self, jobs: &[RotationJob]) -> Result<Vec<RotationOutcome>> {
        match self {
            Target::Postgres(pool) => {
                apply(jobs, |candidates| apply_postgres(pool, candidates)).await
            }
            Target::Sqlite {
                pool,
                own,
                checkpoint,
                since_checkpoint,
            } => {
                let conn = match own {
                    Some(conn) => conn,
                    None => own.insert(writer_connection(pool).await?),
                };
                let applied = apply(jobs, |candidates| apply_sqlite(conn, candidates)).await;
                if applied.is_err() {
                    // The next batch starts on a fresh connection.
                    *own = None;
                }
                *since_checkpoint += jobs.len();
                if *since_checkpoint >= ROTATIONS_PER_CHECKPOINT {
                    *since_checkpoint = 0;
                    checkpoint.notify_one();
                }
                applied
            }
        }
    }
}

/// A connection taken out of the pool for the writer, with automatic checkpoints off.
async fn writer_connection(pool: &SqlitePool) -> Result<SqliteConnection> {
    let mut conn = pool.acquire().await?.detach();
    sqlx::query("PRAGMA wal_autocheckpoint = 0")
        .execute(&mut conn)
        .await?;
    Ok(conn)
}

/// Checkpoints SQLite's write-ahead log when the writer has written enough, and at least
/// every second, until the writer is gone. A passive checkpoint copies committed pages into
/// the database file without blocking the writer or readers.
fn spawn_checkpointer(pool: SqlitePool, due: Arc<Notify>) {
    tokio::spawn(async move {
        while Arc::strong_count(&due) > 1 && !pool.is_closed() {
            let _ = tokio::time::timeout(Duration::from_secs(1), due.notified()).await;
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                tracing::debug!(error = %e, "checkpoint skipped");
            }
        }
    });
}

/// Starts the task that applies queued rotations in batches; it ends when every sender (every
/// clone of the store) is gone.
pub(super) fn spawn_rotation_writer(db: Db, turn: Arc<Mutex<()>>) -> Rotations {
    let (sender, receiver) = mpsc::unbounded_channel::<RotationJob>();
    let receiver = Arc::new(Mutex::new(receiver));
    match db {
        Db::Sqlite(pool) => {
            let checkpoint = Arc::new(Notify::new());
            spawn_checkpointer(pool.clone(), checkpoint.clone());
            let target = Target::Sqlite {
                pool,
                own: None,
                checkpoint,
                since_checkpoint: 0,
            };
            tokio::spawn(write_batches(target, receiver, Some(turn)));
        }
        // Several batches in flight, each on its own server connection, so the server's
        // cores all work; row locks keep concurrent batches correct.
        Db::Postgres(pool) => {
            for _ in 0..POSTGRES_WRITERS {
                let target = Target::Postgres(pool.clone());
                tokio::spawn(write_batches(target, receiver.clone(), None));
            }
        }
    }
    sender
}

/// One writer: takes every job waiting (up to `ROTATION_BATCH`), applies them and answers
/// them, until the queue is closed. On SQLite, session creation and other hot writes take
/// the same `turn`, so they interleave with batches instead of meeting SQLite's busy handler.
async fn write_batches(
    mut target: Target,
    queue: Arc<Mutex<mpsc::UnboundedReceiver<RotationJob>>>,
    turn: Option<Arc<Mutex<()>>>,
) {
    let mut batch = Vec::with_capacity(ROTATION_BATCH);
    while queue
        .lock()
        .await
        .recv_many(&mut batch, ROTATION_BATCH)
        .await
        > 0
    {
        let _turn = match &turn {
            Some(turn) => Some(turn.lock().await),
            None => None,
        };
        match target.apply(&batch).await {
            Ok(outcomes) => {
                for (job, outcome) in batch.drain(..).zip(outcomes) {
                    let _ = job.answer.send(Ok(outcome));
                }
            }
            // Nothing of the batch was committed. Apply each rotation on its own, so a
            // rotation that fails answers with its own error and the others still pass.
            Err(_) => {
                for job in batch.drain(..) {
                    let outcome = target.apply(std::slice::from_ref(&job)).await;
                    let _ = job.answer.send(outcome.map(|mut o| o.remove(0)));
                }
            }
        }
    }
}

/// A looked-up session, the presented token hash it was found by and, on PostgreSQL, the
/// successor the batch moved it to.
#[derive(sqlx::FromRow)]
struct FoundBy {
    #[sqlx(flatten)]
    found: RefreshLookup,
    presented: String,
    #[sqlx(default)]
    rotated_to: Option<String>,
}

/// Applies `jobs` with a fixed number of statements, however many jobs there are, through
/// `backend` (given the jobs that may rotate), and answers each job in order.
async fn apply<'j, F, Fut>(jobs: &'j [RotationJob], backend: F) -> Result<Vec<RotationOutcome>>
where
    F: FnOnce(Vec<&'j RotationJob>) -> Fut,
    Fut: Future<Output = Result<Applied>>,
{
    // Of several jobs presenting one token only the first may rotate it; the others find it
    // rotated, as they would had they come a moment later.
    let mut claimed = HashSet::with_capacity(jobs.len());
    let first: Vec<bool> = jobs
        .iter()
        .map(|job| claimed.insert(job.presented.as_str()))
        .collect();
    let candidates: Vec<&RotationJob> = jobs
        .iter()
        .zip(&first)
        .filter_map(|(job, first)| first.then_some(job))
        .collect();
    let (current, found) = backend(candidates).await?;
    Ok(outcomes(jobs, &first, &current, found))
}

/// The successors that became current, and the sessions of the presented tokens.
type Applied = (HashSet<String>, HashMap<String, RefreshLookup>);

/// One transaction: the rotations, the lookups (as they are after the rotations) and the
/// successors' records, each one statement.
async fn apply_sqlite(conn: &mut SqliteConnection, jobs: Vec<&RotationJob>) -> Result<Applied> {
    let rotation = |job: &&RotationJob| json!([job.presented, job.successor, job.now]);
    let presented: Vec<&str> = jobs.iter().map(|job| job.presented.as_str()).collect();
    // Two round trips to the connection's thread, each several statements: those round trips,
    // not the statements, are what a batch waits for when the cores are busy. On any error
    // the caller drops the connection, which rolls the open transaction back.
    let current: HashSet<String> = sqlx::query_scalar(ROTATE_BATCH)
        .bind(Value::Array(jobs.iter().map(rotation).collect()).to_string())
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
    let rotated: Vec<_> = jobs
        .iter()
        .filter(|job| current.contains(&job.successor))
        .map(rotation)
        .collect();
    let found = sqlx::query_as::<_, FoundBy>(FINISH_BATCH)
        .bind(Value::Array(rotated).to_string())
        .bind(json!(presented).to_string())
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|row| (row.presented, row.found))
        .collect();
    Ok((current, found))
}

/// One statement; the lookups are as they were before it.
async fn apply_postgres(pool: &PgPool, jobs: Vec<&RotationJob>) -> Result<Applied> {
    let presented: Vec<&str> = jobs.iter().map(|job| job.presented.as_str()).collect();
    let successors: Vec<&str> = jobs.iter().map(|job| job.successor.as_str()).collect();
    let times: Vec<i64> = jobs.iter().map(|job| job.now).collect();
    let rows: Vec<FoundBy> = sqlx::query_as(ROTATE_BATCH_POSTGRES)
        .bind(presented)
        .bind(successors)
        .bind(times)
        .fetch_all(pool)
        .await?;
    let mut current = HashSet::with_capacity(rows.len());
    let mut found = HashMap::with_capacity(rows.len());
    for row in rows {
        current.extend(row.rotated_to);
        found.insert(row.presented, row.found);
    }
    Ok((current, found))
}

/// Each job's answer: the session of its token, and whether it was the job that rotated it.
fn outcomes(
    jobs: &[RotationJob],
    first: &[bool],
    current: &HashSet<String>,
    mut found: HashMap<String, RefreshLookup>,
) -> Vec<RotationOutcome> {
    let mut answers: Vec<RotationOutcome> = Vec::with_capacity(jobs.len());
    // From the last job back, so the first job of a shared token takes the lookup itself
    // and the later ones a copy.
    for (index, job) in jobs.iter().enumerate().rev() {
        let won = first[index] && current.contains(&job.successor);
        let lookup = if first[index] {
            found.remove(&job.presented)
        } else {
            found.get(&job.presented).cloned()
        };
        answers.push(lookup.map(|lookup| (lookup, won)));
    }
    answers.reverse();
    answers
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
