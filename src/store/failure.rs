//! What kind of failure a [`StoreError`] is, in one word: for the
//! scheduler's figures in `/api/v1/status`, for `/readyz`'s reason, and to
//! group the lines the loops log.

use super::StoreError;

/// SQLite's primary result codes that mean the disk or the file failed
/// (`SQLITE_IOERR`, `SQLITE_CORRUPT`, `SQLITE_FULL`, `SQLITE_CANTOPEN`,
/// `SQLITE_READONLY`), and the ones that mean another writer held the lock
/// (`SQLITE_BUSY`, `SQLITE_LOCKED`).
const SQLITE_DISK: [i64; 5] = [10, 11, 13, 14, 8];
const SQLITE_LOCK: [i64; 2] = [5, 6];

/// One word for what went wrong:
/// - `unreachable`: the database could not be reached (refused, closed, no
///   connection within the pool's timeout);
/// - `disk`: it could not write its files (full, I/O error, read-only);
/// - `locked`: another writer held it too long;
/// - `constraint`: a write broke a rule of the schema;
/// - `database`: any other error the database reported;
/// - `data`: a stored row that cannot be read back;
/// - `other`: the rest (a duplicate, a refused move, a migration).
pub(crate) fn failure_kind(error: &StoreError) -> &'static str {
    if let StoreError::Shared(inner) = error {
        return failure_kind(inner);
    }
    // A full disk is "disk" though the API answers it 503 like the rest of
    // "could not reach the database", whose one rule the API follows.
    if let StoreError::Database { source, .. } = error {
        if driver_failure_kind(source) == "disk" {
            return "disk";
        }
    }
    if error.is_unavailable() {
        return "unreachable";
    }
    match error {
        StoreError::Database { source, .. } => driver_failure_kind(source),
        StoreError::Corrupt(_) => "data",
        _ => "other",
    }
}

fn driver_failure_kind(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => "unreachable",
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // SQLite's codes are numbers (extended: primary | n << 8);
            // PostgreSQL's are SQLSTATEs.
            if let Ok(number) = code.parse::<i64>() {
                let primary = number & 0xff;
                if SQLITE_DISK.contains(&primary) {
                    return "disk";
                }
                if SQLITE_LOCK.contains(&primary) {
                    return "locked";
                }
            } else if code.starts_with("53") || code.starts_with("58") {
                // Insufficient resources (53100 disk full), system error.
                return "disk";
            } else if code.starts_with("08") || code.starts_with("57P") {
                // Connection exception; the server shutting down or refusing.
                return "unreachable";
            } else if code == "55P03" || code == "40P01" {
                return "locked";
            }
            if db.constraint().is_some() || code.starts_with("23") {
                return "constraint";
            }
            "database"
        }
        _ => "database",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_timeout_is_unreachable_and_a_corrupt_row_is_data() {
        let timeout = StoreError::db("reading")(sqlx::Error::PoolTimedOut);
        assert_eq!(failure_kind(&timeout), "unreachable");
        assert_eq!(failure_kind(&StoreError::Corrupt("x".into())), "data");
    }

    /// A real `SQLITE_FULL`: a database allowed too few pages.
    #[tokio::test]
    async fn a_full_sqlite_database_is_disk_and_unavailable() {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (x TEXT)")
            .execute(&mut db)
            .await
            .unwrap();
        sqlx::query("PRAGMA max_page_count = 3")
            .execute(&mut db)
            .await
            .unwrap();
        let mut full = None;
        for _ in 0..100 {
            if let Err(e) = sqlx::query("INSERT INTO t VALUES (randomblob(2000))")
                .execute(&mut db)
                .await
            {
                full = Some(e);
                break;
            }
        }
        let error = StoreError::db("inserting")(full.expect("the database fills up"));
        assert_eq!(failure_kind(&error), "disk", "{error}");
        assert!(
            error.is_unavailable(),
            "a full disk is worth trying again: {error}"
        );
    }
}
