//! SQLite backend (to be written).
use super::StoreError;

/// The SQLite store.
#[derive(Debug)]
pub struct SqliteStore;

impl SqliteStore {
    /// Opens the database.
    pub async fn connect(_url: &str, _max: u32) -> Result<Self, StoreError> {
        todo!()
    }
}
