//! Persistence behind one API. Every query is written once; `on_db!` expands it for
//! SQLite and for PostgreSQL, so both backends run the same code path.

mod api_keys;
mod audit;
mod audit_trail;
mod federation;
mod imports;
mod keys;
mod mfa;
mod notify;
mod oauth;
mod one_time;
mod outbox;
mod passkeys;
mod rbac;
mod session_list;
mod sessions;
mod throttle;
mod user_admin;
mod users;
mod users_generation;
mod writer;

use std::{
    str::FromStr,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use sqlx::{
    PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

pub use api_keys::{ApiKeyLookup, ApiKeyRow};
pub use audit::AuditEvent;
pub use audit_trail::{AuditFilter, AuditRow};
pub use federation::{FederationLogin, IdentityRow, NewIdentity};
pub use imports::{ExistingUser, ImportedUser};
pub use keys::{KeyRow, ServerSecret};
pub use mfa::{Factor, TotpRow};
pub use notify::{Event, Listener, parse_revocation, revocation_payload};
pub use oauth::{BrowserSessionRow, ClientRow, CodeRow, ConsentRow, GrantRow, Redemption};
pub use one_time::{MFA_ATTEMPTS, Purpose};
pub use outbox::OutboxRow;
pub use passkeys::PasskeyRow;
pub use rbac::RoleRow;
pub use session_list::SessionSummary;
pub use sessions::{NewSession, RefreshLookup, Revocation, Revoke, SessionRow};
pub use throttle::Counter;
pub use user_admin::{UserChanges, search_pattern};
pub use users::{NewUserRow, UserRow};

/// The connection pool of whichever backend `database.url` names.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs one body against either pool; `$pool` is bound to the concrete pool.
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or did not answer in time.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A uniqueness rule refused the write; the string names the constraint or column.
    #[error("conflict on {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                let what = db
                    .constraint()
                    .map(str::to_owned)
                    .unwrap_or_else(|| db.message().to_owned());
                StoreError::Conflict(what)
            }
            sqlx::Error::Database(db) if is_unavailable_code(db.code().as_deref()) => {
                StoreError::Unavailable(e)
            }
            _ => StoreError::Other(e),
        }
    }
}

/// PostgreSQL's "server shutting down / cannot connect now" classes, and SQLite's busy/locked.
fn is_unavailable_code(code: Option<&str>) -> bool {
    matches!(code, Some(c) if c.starts_with("57P") || c.starts_with("08") || c == "5" || c == "6" || c == "517")
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    /// Bumped after every write to users or their roles (`users_generation.rs`).
    users_generation: Arc<AtomicU64>,
    /// Queues this process's SQLite write transactions (`writer.rs`).
    writer: Arc<tokio::sync::Mutex<()>>,
    /// Feeds the group-committing rotation writer (`writer.rs`).
    rotations: writer::Rotations,
}

pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// SQLite `synchronous=FULL` (flush every commit) rather than `NORMAL`.
    pub sqlite_sync_every_commit: bool,
}

impl Store {
    /// Connects (creating a SQLite file if missing) and applies pending migrations.
    pub async fn connect(url: &str, pool: &PoolSettings) -> anyhow::Result<Self> {
        let writer: Arc<tokio::sync::Mutex<()>> = Arc::default();
        let db = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL (the default): an acknowledged commit survives a crash of the process
                // or the machine; NORMAL: of the process only.
                .synchronous(if pool.sqlite_sync_every_commit {
                    SqliteSynchronous::Full
                } else {
                    SqliteSynchronous::Normal
                })
                .foreign_keys(true)
                // Statement journals and sort scratch stay in memory instead of files created
                // and unlinked per statement.
                .pragma("temp_store", "memory")
                .busy_timeout(pool.acquire_timeout);
            let sqlite = SqlitePoolOptions::new()
                .max_connections(pool.max_connections)
                .acquire_timeout(pool.acquire_timeout)
                .connect_with(options)
                .await?;
            sqlx::migrate!("migrations/sqlite").run(&sqlite).await?;
            Db::Sqlite(sqlite)
        } else {
            let pg = PgPoolOptions::new()
                .max_connections(pool.max_connections)
                .acquire_timeout(pool.acquire_timeout)
                .connect(url)
                .await?;
            sqlx::migrate!("migrations/postgres").run(&pg).await?;
            Db::Postgres(pg)
        };
        let rotations = writer::spawn_rotation_writer(db.clone(), writer.clone());
        Ok(Self {
            db,
            users_generation: Arc::default(),
            writer,
            rotations,
        })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn backend(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Open connections and how many of them are idle.
    pub fn pool_stats(&self) -> (u32, usize) {
        match &self.db {
            Db::Sqlite(pool) => (pool.size(), pool.num_idle()),
            Db::Postgres(pool) => (pool.size(), pool.num_idle()),
        }
    }

    /// A cheap round trip that proves the database answers.
    pub async fn ping(&self) -> Result<()> {
        on_db!(&self.db, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ())?);
        Ok(())
    }

    pub async fn close(&self) {
        on_db!(&self.db, pool => pool.close().await)
    }
}
