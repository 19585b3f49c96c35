//! The [`Store`](super::Store) implementation, written once for both
//! backends.
//!
//! A macro, not generic functions: sqlx's executor and encoding traits need
//! a dozen higher-ranked bounds for code generic over the database, and
//! futures built under such bounds often fail the `Send` check that
//! `async_trait` needs. Expanded for each concrete store, the same code
//! compiles against concrete types, and each backend file holds only what
//! differs.
//!
//! The backend type invoking [`impl_store!`] must have a `pool` field and:
//! - `const BEGIN_WRITE: &'static str`: the statement that opens a
//!   read-then-write transaction holding other writers off;
//! - `const LOCK_PACKAGE: &'static str`: selects the package row
//!   ([`super::sql::package_row_columns!`]) with reference `$1` and holds it
//!   until the transaction ends;
//! - `const INSERT_CHUNK_ROWS: usize`: rows per multi-row `INSERT` of a
//!   batch (packages take 18 values a row, events 9, audit lines 1 plus 5
//!   shared);
//! - `const MAINTAIN: &'static [&'static str]`: statements that keep the
//!   query planner's statistics fresh, run after migrating and periodically;
//! - `const MIGRATIONS_TABLE_EXISTS: &'static str`: one boolean, true when
//!   sqlx's `_sqlx_migrations` table exists.
//!
//! The macro adds the public `pool()` accessor and embeds the backend's
//! migrations folder.
//!
//! Every write of a package or a token appends its audit line inside the
//! write's own transaction: a change that commits is always audited, and a
//! refused or failed one leaves no line claiming it happened.

/// Implements [`Store`](super::Store) for a backend store type; see the
/// module documentation for what the type must provide.
macro_rules! impl_store {
    ($store:ty, pool: $pool:ty, migrations: $migrations:literal $(,)?) => {
        impl $store {
            /// The connection pool, for tests and tools that need raw SQL.
            pub fn pool(&self) -> &$pool {
                &self.pool
            }

            /// This backend's migrations, embedded at compile time.
            fn migrator() -> &'static sqlx::migrate::Migrator {
                static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!($migrations);
                &MIGRATOR
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn migrate(&self) -> Result<(), $crate::store::StoreError> {
                Self::migrator().run(&self.pool).await?;
                self.maintain().await
            }

            async fn maintain(&self) -> Result<(), $crate::store::StoreError> {
                for statement in Self::MAINTAIN {
                    // raw_sql: a batch runs on one connection, so a
                    // per-connection setting applies to what follows it.
                    sqlx::raw_sql(statement).execute(&self.pool).await.map_err(
                        $crate::store::StoreError::db("refreshing the query planner's statistics"),
                    )?;
                }
                Ok(())
            }

            async fn is_ready(&self) -> Result<bool, $crate::store::StoreError> {
                use $crate::store::StoreError;
                let exists: bool = sqlx::query_scalar(Self::MIGRATIONS_TABLE_EXISTS)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(StoreError::db("asking the database whether it is migrated"))?;
                if !exists {
                    return Ok(false);
                }
                let applied: Vec<(i64, bool, Vec<u8>)> =
                    sqlx::query_as($crate::store::sql::APPLIED_MIGRATIONS)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(StoreError::db("reading the applied migrations"))?;
                Ok($crate::store::rows::all_migrations_applied(
                    Self::migrator(),
                    &applied,
                ))
            }

            async fn insert_packages(
                &self,
                entries: &[$crate::store::LedgerEntry],
                actor: &$crate::store::Actor,
                recorded_at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::rows::{
                    stored_instant, AuditValues, EventValues, PackageValues,
                };
                use $crate::store::sql::{
                    self, bind_audit_values, bind_event_values, bind_package_values,
                };
                use $crate::store::StoreError;

                // A reference twice in one batch is refused before touching
                // the database; ON CONFLICT would quietly keep the first.
                let mut seen = std::collections::HashSet::with_capacity(entries.len());
                if let Some(repeated) = entries
                    .iter()
                    .map(|e| e.package.reference())
                    .find(|r| !seen.insert(*r))
                {
                    return Err(StoreError::Duplicate(repeated.clone()));
                }
                if entries.is_empty() {
                    return Ok(());
                }
                let recorded_at = stored_instant(recorded_at);
                let audit = AuditValues::new(actor, "package.created", None, recorded_at);
                let mut tx = self
                    .pool
                    .begin_with(Self::BEGIN_WRITE)
                    .await
                    .map_err(StoreError::db("starting to insert packages"))?;
                for chunk in entries.chunks(Self::INSERT_CHUNK_ROWS) {
                    let packages: Vec<PackageValues<'_>> =
                        chunk.iter().map(PackageValues::new).collect();
                    let statement = sql::insert_packages(chunk.len());
                    let mut query =
                        sqlx::query_as::<_, (i64, String)>(&statement).bind(recorded_at);
                    for values in &packages {
                        query = bind_package_values!(query, values);
                    }
                    let inserted: std::collections::HashMap<String, i64> = query
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(StoreError::db("inserting packages"))?
                        .into_iter()
                        .map(|(id, reference)| (reference, id))
                        .collect();
                    let mut events = Vec::with_capacity(chunk.len());
                    for entry in chunk {
                        let Some(&id) = inserted.get(entry.package.reference().as_str()) else {
                            // Skipped by ON CONFLICT: already stored, perhaps
                            // by another writer a moment ago. Rolling back
                            // undoes the whole batch, earlier chunks too.
                            tx.rollback()
                                .await
                                .map_err(StoreError::db("undoing a batch with a duplicate"))?;
                            return Err(StoreError::Duplicate(entry.package.reference().clone()));
                        };
                        events.push(EventValues::new(id, entry, &actor.name, recorded_at));
                    }
                    let statement = sql::insert_events(events.len());
                    let mut query = sqlx::query(&statement);
                    for values in &events {
                        query = bind_event_values!(query, values);
                    }
                    query
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::db("appending created events"))?;
                    let statement = sql::insert_audit(chunk.len());
                    let mut query = bind_audit_values!(sqlx::query(&statement), &audit);
                    for entry in chunk {
                        query = query.bind(entry.package.reference().as_str());
                    }
                    query
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::db("auditing inserted packages"))?;
                }
                tx.commit()
                    .await
                    .map_err(StoreError::db("committing inserted packages"))
            }

            async fn existing_references(
                &self,
                references: &[$crate::domain::Reference],
            ) -> Result<Vec<$crate::domain::Reference>, $crate::store::StoreError> {
                use $crate::store::{sql, StoreError};
                let mut found = std::collections::HashSet::new();
                for chunk in references.chunks(sql::LOOKUP_CHUNK) {
                    let statement = sql::existing_references(chunk.len());
                    let mut query = sqlx::query_scalar::<_, String>(&statement);
                    for reference in chunk {
                        query = query.bind(reference.as_str());
                    }
                    found.extend(
                        query
                            .fetch_all(&self.pool)
                            .await
                            .map_err(StoreError::db("looking up existing references"))?,
                    );
                }
                // In the order asked, each once.
                Ok(references
                    .iter()
                    .filter(|r| found.remove(r.as_str()))
                    .cloned()
                    .collect())
            }

            async fn package(
                &self,
                reference: &$crate::domain::Reference,
            ) -> Result<Option<$crate::domain::Package>, $crate::store::StoreError> {
                use $crate::store::{rows::PackageRow, sql, StoreError};
                sqlx::query_as::<_, PackageRow>(sql::SELECT_PACKAGE)
                    .bind(reference.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(StoreError::db("reading a package"))?
                    .map($crate::domain::Package::try_from)
                    .transpose()
            }

            async fn events(
                &self,
                reference: &$crate::domain::Reference,
            ) -> Result<Vec<$crate::store::LedgerEvent>, $crate::store::StoreError> {
                use $crate::store::{rows::EventRow, sql, StoreError};
                sqlx::query_as::<_, EventRow>(sql::SELECT_EVENTS)
                    .bind(reference.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::db("reading a package's events"))?
                    .into_iter()
                    .map($crate::store::LedgerEvent::try_from)
                    .collect()
            }

            async fn list_packages(
                &self,
                filter: &$crate::store::PackageFilter,
            ) -> Result<Vec<$crate::domain::Package>, $crate::store::StoreError> {
                use $crate::store::{rows::PackageRow, sql, StoreError};
                let (statement, values) = sql::list_packages(filter);
                sql::bind_values!(sqlx::query_as::<_, PackageRow>(&statement), values)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::db("listing packages"))?
                    .into_iter()
                    .map($crate::domain::Package::try_from)
                    .collect()
            }

            async fn update_package(
                &self,
                reference: &$crate::domain::Reference,
                actor: &$crate::store::Actor,
                recorded_at: chrono::DateTime<chrono::Utc>,
                change: $crate::store::PackageChange,
            ) -> Result<$crate::domain::Package, $crate::store::StoreError> {
                use $crate::domain::{MoveRefused, Package};
                use $crate::store::rows::{AuditValues, EventValues, PackageRow, PackageValues};
                use $crate::store::sql::{
                    self, bind_audit_values, bind_event_values, bind_package_values,
                };
                use $crate::store::StoreError;

                // Every early return below drops `tx`, which rolls it back.
                let mut tx = self
                    .pool
                    .begin_with(Self::BEGIN_WRITE)
                    .await
                    .map_err(StoreError::db("starting to change a package"))?;
                let row: PackageRow = sqlx::query_as(Self::LOCK_PACKAGE)
                    .bind(reference.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::db("reading the package to change"))?
                    .ok_or_else(|| StoreError::NotFound(reference.clone()))?;
                let package_id = row.id;
                let entry = change(&Package::try_from(row)?)?;
                if entry.package.reference() != reference {
                    // The row is keyed by reference; writing another one's
                    // state over it would merge two packages.
                    return Err(StoreError::Refused(MoveRefused::conflict(
                        "reference",
                        format!("a change to {reference} cannot change the reference"),
                    )));
                }
                let recorded_at = $crate::store::rows::stored_instant(recorded_at);
                let row: PackageRow = bind_package_values!(
                    sqlx::query_as(sql::UPDATE_PACKAGE),
                    &PackageValues::new(&entry)
                )
                .bind(recorded_at)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::db("writing the changed package"))?;
                let updated = Package::try_from(row)?;
                let event = EventValues::new(package_id, &entry, &actor.name, recorded_at);
                bind_event_values!(sqlx::query(&sql::insert_events(1)), &event)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::db("appending the change's event"))?;
                let action = format!("package.{}", entry.event.name());
                let audit = AuditValues::new(actor, &action, None, recorded_at);
                bind_audit_values!(sqlx::query(&sql::insert_audit(1)), &audit)
                    .bind(reference.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::db("auditing the change"))?;
                tx.commit()
                    .await
                    .map_err(StoreError::db("committing the change"))?;
                Ok(updated)
            }

            async fn count_packages(
                &self,
            ) -> Result<$crate::store::PackageCounts, $crate::store::StoreError> {
                use $crate::store::{sql, PackageCounts, StoreError};
                let (total, demo): (i64, i64) = sqlx::query_as(sql::COUNT_PACKAGES)
                    .bind($crate::demo::DEMO_PREFIX)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(StoreError::db("counting packages"))?;
                // COUNT is never negative.
                Ok(PackageCounts {
                    total: total.unsigned_abs(),
                    demo: demo.unsigned_abs(),
                })
            }

            async fn position(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                due_by: chrono::DateTime<chrono::Utc>,
                lpa: Option<&str>,
            ) -> Result<Vec<$crate::store::PositionRow>, $crate::store::StoreError> {
                use $crate::store::rows::{stored_instant, PositionGroupRow};
                use $crate::store::{sql, PositionRow, StoreError};
                let statement = sql::position(lpa.is_some());
                let mut query = sqlx::query_as::<_, PositionGroupRow>(&statement)
                    .bind(stored_instant(now))
                    .bind(stored_instant(due_by));
                if let Some(lpa) = lpa {
                    query = query.bind(lpa);
                }
                let mut rows = query
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::db("reading the position"))?
                    .into_iter()
                    .map(PositionRow::try_from)
                    .collect::<Result<Vec<_>, _>>()?;
                // In the domain's order (workflow stage, then gravest grade
                // first), which text order on either backend is not.
                rows.sort_by_key(|row| (row.stage, row.grade));
                Ok(rows)
            }

            async fn create_token(
                &self,
                token: &$crate::store::ApiToken,
                hash: &str,
                actor: &$crate::store::Actor,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::rows::{stored_instant, AuditValues};
                use $crate::store::sql::{self, bind_audit_values};
                use $crate::store::StoreError;
                let created_at = stored_instant(token.created_at);
                let mut tx = self
                    .pool
                    .begin_with(Self::BEGIN_WRITE)
                    .await
                    .map_err(StoreError::db("starting to create a token"))?;
                let written = sqlx::query(sql::INSERT_TOKEN)
                    .bind(token.name.as_str())
                    .bind(token.role.as_str())
                    .bind(hash)
                    .bind(created_at)
                    .bind(token.revoked_at.map(stored_instant))
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::db("storing a token"))?
                    .rows_affected();
                if written == 0 {
                    // Dropping `tx` rolls it back: nothing was written.
                    return Err(StoreError::DuplicateToken(token.name.clone()));
                }
                // The name says which token; never the token or its hash.
                let detail = format!("name={} role={}", token.name, token.role);
                let audit = AuditValues::new(actor, "token.created", Some(&detail), created_at);
                bind_audit_values!(sqlx::query(&sql::insert_audit(1)), &audit)
                    .bind(None::<&str>)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::db("auditing a new token"))?;
                tx.commit()
                    .await
                    .map_err(StoreError::db("committing a new token"))
            }

            async fn tokens(
                &self,
            ) -> Result<Vec<$crate::store::ApiToken>, $crate::store::StoreError> {
                use $crate::store::{rows::TokenRow, sql, ApiToken, StoreError};
                sqlx::query_as::<_, TokenRow>(sql::SELECT_TOKENS)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::db("listing tokens"))?
                    .into_iter()
                    .map(ApiToken::try_from)
                    .collect()
            }

            async fn revoke_token(
                &self,
                name: &str,
                at: chrono::DateTime<chrono::Utc>,
                actor: &$crate::store::Actor,
            ) -> Result<bool, $crate::store::StoreError> {
                use $crate::store::rows::{stored_instant, AuditValues};
                use $crate::store::sql::{self, bind_audit_values};
                use $crate::store::StoreError;
                let at = stored_instant(at);
                let mut tx = self
                    .pool
                    .begin_with(Self::BEGIN_WRITE)
                    .await
                    .map_err(StoreError::db("starting to revoke a token"))?;
                let revoked = sqlx::query(sql::REVOKE_TOKEN)
                    .bind(name)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::db("revoking a token"))?
                    .rows_affected();
                if revoked == 0 {
                    // Unknown or already revoked: nothing to record.
                    tx.rollback()
                        .await
                        .map_err(StoreError::db("ending a revocation that found no token"))?;
                    return Ok(false);
                }
                let detail = format!("name={name}");
                let audit = AuditValues::new(actor, "token.revoked", Some(&detail), at);
                bind_audit_values!(sqlx::query(&sql::insert_audit(1)), &audit)
                    .bind(None::<&str>)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::db("auditing a revocation"))?;
                tx.commit()
                    .await
                    .map_err(StoreError::db("committing a revocation"))?;
                Ok(true)
            }

            async fn token_by_hash(
                &self,
                hash: &str,
            ) -> Result<Option<$crate::store::ApiToken>, $crate::store::StoreError> {
                use $crate::store::{rows::TokenRow, sql, ApiToken, StoreError};
                sqlx::query_as::<_, TokenRow>(sql::SELECT_ACTIVE_TOKEN_BY_HASH)
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(StoreError::db("looking a token up"))?
                    .map(ApiToken::try_from)
                    .transpose()
            }

            async fn audit(
                &self,
                actor: &$crate::store::Actor,
                action: &str,
                reference: Option<&$crate::domain::Reference>,
                detail: Option<&str>,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::rows::AuditValues;
                use $crate::store::sql::{self, bind_audit_values};
                use $crate::store::StoreError;
                let audit = AuditValues::new(actor, action, detail, at);
                bind_audit_values!(sqlx::query(&sql::insert_audit(1)), &audit)
                    .bind(reference.map($crate::domain::Reference::as_str))
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::db("appending to the audit log"))?;
                Ok(())
            }

            async fn audit_log(
                &self,
                reference: Option<&$crate::domain::Reference>,
            ) -> Result<Vec<$crate::store::AuditRecord>, $crate::store::StoreError> {
                use $crate::store::{rows::AuditRow, sql, AuditRecord, StoreError};
                let query = match reference {
                    Some(reference) => sqlx::query_as::<_, AuditRow>(sql::SELECT_AUDIT_LOG_FOR)
                        .bind(reference.as_str()),
                    None => sqlx::query_as::<_, AuditRow>(sql::SELECT_AUDIT_LOG),
                };
                Ok(query
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::db("reading the audit log"))?
                    .into_iter()
                    .map(AuditRecord::from)
                    .collect())
            }
        }
    };
}
pub(super) use impl_store;
