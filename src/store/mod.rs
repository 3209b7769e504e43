//! The local SQLite cache: one writer connection, any number of read-only readers.
//!
//! WAL mode lets readers (the TUI's loaders, the headless verbs) query while the writer
//! (an import, the live feed) commits.

mod migrations;
pub mod query;
pub mod replays;
pub mod sync;
pub mod versions;
mod write;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

pub use write::{IngestCounts, Writer};

/// Errors from the cache, naming the database file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{path}: {source}")]
    Migrate {
        path: PathBuf,
        source: migrations::MigrateError,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no cache here yet: run `relops import` or `relops demo` first")]
    Missing { path: PathBuf },
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -64_000i64)?; // 64 MB page cache
    Ok(())
}

/// Opens (creating and migrating if needed) the cache for writing.
pub fn open_writer(path: &Path) -> Result<Writer, StoreError> {
    let sqlite = |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let mut conn = Connection::open(path).map_err(sqlite)?;
    configure(&conn).map_err(sqlite)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(sqlite)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sqlite)?;
    // A longer WAL between checkpoints: hot index pages are copied back once, not per
    // batch, which is most of the cost of a bulk import.
    conn.pragma_update(None, "wal_autocheckpoint", 16_384i64)
        .map_err(sqlite)?;
    migrations::migrate(&mut conn).map_err(|source| StoreError::Migrate {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Writer::new(conn))
}

/// Opens the cache read-only. The cache must exist; an older schema is migrated first.
pub fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let sqlite = |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    if !path.exists() {
        return Err(StoreError::Missing {
            path: path.to_path_buf(),
        });
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    configure(&conn).map_err(sqlite)?;
    // Readers scan; a memory map saves them a copy per page. Not for the writer: mapped
    // pages would count against an import's memory, which must stay flat.
    conn.pragma_update(None, "mmap_size", 1i64 << 30)
        .map_err(sqlite)?;
    if migrations::schema_version(&conn).map_err(sqlite)? < migrations::LATEST {
        drop(open_writer(path)?);
    }
    Ok(conn)
}

/// The schema version this build writes.
pub use migrations::LATEST;

/// Migrates an in-memory cache to an older schema, for unit tests of upgrades.
#[cfg(test)]
pub fn migrate_to(conn: &mut Connection, version: usize) {
    migrations::migrate_to(conn, version).expect("the schema applies");
}

/// An in-memory cache with the whole schema, for unit tests.
#[cfg(test)]
pub fn memory() -> Connection {
    let mut conn = Connection::open_in_memory().expect("sqlite opens in memory");
    migrations::migrate(&mut conn).expect("the schema applies");
    conn
}
