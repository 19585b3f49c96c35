//! PostgreSQL backend (to be written).
use super::StoreError;

/// The PostgreSQL store.
#[derive(Debug)]
pub struct PostgresStore;

impl PostgresStore {
    /// Opens the database.
    pub async fn connect(_url: &str, _max: u32) -> Result<Self, StoreError> {
        todo!()
    }
}
