//! SQLite admits one writer at a time. Connections that find the write lock taken wait in
//! SQLite's busy handler, which sleeps in steps growing to 100 ms, so under concurrent writes
//! most of the time goes to sleeping and the tail latency grows to seconds. Hot write
//! transactions therefore queue here first, in this process, and reach SQLite one at a time.
//! PostgreSQL has row locks and needs no queue.

use tokio::sync::MutexGuard;

use super::{Db, Store};

impl Store {
    /// Waits for this process's turn to write to SQLite; `None` on PostgreSQL.
    pub(super) async fn write_turn(&self) -> Option<MutexGuard<'_, ()>> {
        match self.db() {
            Db::Sqlite(_) => Some(self.writer.lock().await),
            Db::Postgres(_) => None,
        }
    }
}
