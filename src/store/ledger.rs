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
//!   batch (packages take 22 values a row, events 9, audit lines 1 plus 5
//!   shared);
//! - `const LIST_FROM: &'static str`: the `FROM` clause of a package list
//!   (a backend may name the index that serves its order);
//! - `const MAINTAIN: &'static [&'static str]`: statements that keep the
//!   query planner's statistics fresh, run after migrating and periodically;
//! - `const MIGRATIONS_TABLE_EXISTS: &'static str`: one boolean, true when
//!   sqlx's `_sqlx_migrations` table exists;
//! - `const CLAIM_DUE_PACKAGES: &'static str`: the scheduler's due packages
//!   ([`super::sql::select_due_packages!`], `$1` now, `$2` limit), held
//!   until the pass ends and not taken by another pass meanwhile;
//! - `const SERIALISE_OUTBOX_APPENDS: &'static [&'static str]`: run before a
//!   pass queues messages, so that messages are committed in the order of
//!   their ids (which is the order each destination receives them);
//! - `const QUEUE_TAIL: &'static str`: [`super::sql::select_queue_tail!`],
//!   holding the row it returns until the pass ends, so no dispatcher
//!   claims a message while a pass adds to it;
//! - `const CLAIM_OUTBOX: &'static str`: claims the messages
//!   [`super::sql::select_claimable_outbox!`] selects, setting
//!   [`super::sql::claim_outbox_set!`] and returning
//!   [`super::sql::claim_outbox_returning!`], such that two dispatchers
//!   never claim one message or break the order of a destination;
//! - `async fn explain(&self, statement: &str, values: &[BindValue<'_>]) ->
//!   Result<String, StoreError>`: the backend's plan of a statement, one
//!   step a line (for [`query_plans`](#method.query_plans)).
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

            /// How the database will run the statements the scheduler and
            /// the dispatcher repeat all day, by name: for the plan tests,
            /// and for finding out why a pass or a claim has become slow.
            /// Explains with `now` bound; runs nothing.
            pub async fn query_plans(
                &self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Vec<(&'static str, String)>, $crate::store::StoreError> {
                use $crate::store::rows::stored_instant;
                use $crate::store::sql::{self, BindValue};
                // A lease of five minutes: the value does not change the plan.
                let held_since =
                    BindValue::Instant(stored_instant(now - chrono::Duration::minutes(5)));
                let now = BindValue::Instant(stored_instant(now));
                let statements: [(&'static str, &str, Vec<BindValue<'_>>); 5] = [
                    (
                        "claim due packages",
                        Self::CLAIM_DUE_PACKAGES,
                        vec![now, BindValue::Integer(100)],
                    ),
                    (
                        "claim messages",
                        Self::CLAIM_OUTBOX,
                        vec![
                            now,
                            held_since,
                            BindValue::Text("worker"),
                            BindValue::Integer(10),
                        ],
                    ),
                    ("next wake", sql::NEXT_WAKE, vec![]),
                    ("scheduler status", sql::SCHEDULER_STATUS, vec![now]),
                    ("oldest undelivered", sql::OLDEST_UNDELIVERED, vec![]),
                ];
                let mut plans = Vec::with_capacity(statements.len());
                for (name, statement, values) in statements {
                    plans.push((name, self.explain(statement, &values).await?));
                }
                Ok(plans)
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

            async fn events_before(
                &self,
                until: chrono::DateTime<chrono::Utc>,
            ) -> Result<Vec<$crate::store::LedgerEvent>, $crate::store::StoreError> {
                use $crate::store::{
                    rows::{stored_instant, EventRow},
                    sql, StoreError,
                };
                sqlx::query_as::<_, EventRow>(sql::SELECT_EVENTS_BEFORE)
                    .bind(stored_instant(until))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::db("reading the ledger's events"))?
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
                let statement = statement.replacen(" FROM packages", Self::LIST_FROM, 1);
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

            async fn escalation_pass(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                limit: u32,
                plan: &$crate::store::PlanFn,
                compose: &$crate::store::ComposeFn,
            ) -> Result<$crate::store::PassReport, $crate::store::StoreError> {
                use $crate::domain::Package;
                use $crate::outbox::Payload;
                use $crate::store::rows::{
                    self, json_text, stored_instant, EscalationValues, PackageRow, QueueTailRow,
                };
                use $crate::store::sql::{self, bind_escalation_values};
                use $crate::store::{PassReport, RecordedEscalation, StoreError};

                let now = stored_instant(now);
                // Every early return drops `tx`, which rolls the whole pass
                // back: escalations, next due instants, messages and the
                // heartbeat go in together or not at all.
                let mut tx = self
                    .pool
                    .begin_with(Self::BEGIN_WRITE)
                    .await
                    .map_err(StoreError::db("starting a scheduler pass"))?;
                let due: Vec<PackageRow> = sqlx::query_as(Self::CLAIM_DUE_PACKAGES)
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(StoreError::db("claiming the due packages"))?;
                let mut report = PassReport::default();
                let mut recorded = Vec::new();
                for row in due {
                    let package_id = row.id;
                    let package = Package::try_from(row)?;
                    let package_plan = plan(&package);
                    report.packages += 1;
                    for draft in package_plan.escalations {
                        let values = EscalationValues::new(package_id, &draft, now);
                        let status = values.status;
                        let inserted: Option<i64> = bind_escalation_values!(
                            sqlx::query_scalar(sql::INSERT_ESCALATION),
                            &values
                        )
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(StoreError::db("recording an escalation"))?;
                        // No row: recorded before, so already dealt with.
                        let Some(id) = inserted else { continue };
                        report.recorded += 1;
                        match status {
                            rows::ESCALATION_NOTIFIED => recorded.push(RecordedEscalation {
                                id,
                                destinations: draft.destinations,
                                item: draft.item,
                            }),
                            rows::ESCALATION_SUPERSEDED => report.superseded += 1,
                            _ => {}
                        }
                    }
                    sqlx::query(sql::SET_NEXT_DUE_AT)
                        .bind(package_id)
                        .bind(package_plan.next_due_at.map(stored_instant))
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::db("setting a package's next due instant"))?;
                }
                let messages = compose(recorded);
                if !messages.is_empty() {
                    for statement in Self::SERIALISE_OUTBOX_APPENDS {
                        sqlx::query(statement)
                            .execute(&mut *tx)
                            .await
                            .map_err(StoreError::db("waiting to append to the outbox"))?;
                    }
                }
                for message in messages {
                    // A message to a destination whose queue ends in one
                    // still waiting untried joins it: a recipient hears of
                    // a burst in one message, not one a pass.
                    let tail: Option<QueueTailRow> = sqlx::query_as(Self::QUEUE_TAIL)
                        .bind(json_text(&message.destination))
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(StoreError::db("reading the end of a destination's queue"))?;
                    let joined = match tail.map(QueueTailRow::joinable).transpose()?.flatten() {
                        Some((id, mut waiting)) => match waiting.absorb(message.notice.clone()) {
                            Ok(()) => Some((id, waiting)),
                            Err(_) => None,
                        },
                        None => None,
                    };
                    let id: i64 = match joined {
                        Some((id, notice)) => {
                            sqlx::query(sql::UPDATE_OUTBOX_NOTICE)
                                .bind(id)
                                .bind(json_text(&Payload::Notice(notice)))
                                .execute(&mut *tx)
                                .await
                                .map_err(StoreError::db("adding to a waiting message"))?;
                            report.merged += 1;
                            id
                        }
                        None => {
                            report.messages += 1;
                            sqlx::query_scalar(sql::INSERT_OUTBOX)
                                .bind(json_text(&message.destination))
                                .bind(json_text(&Payload::Notice(message.notice)))
                                .bind(now)
                                .fetch_one(&mut *tx)
                                .await
                                .map_err(StoreError::db("queueing a message"))?
                        }
                    };
                    for chunk in message.escalation_ids.chunks(sql::LOOKUP_CHUNK) {
                        let statement = sql::insert_outbox_links(chunk.len());
                        let mut query = sqlx::query(&statement).bind(id);
                        for escalation_id in chunk {
                            query = query.bind(*escalation_id);
                        }
                        // An id that is not an escalation fails the foreign
                        // key, and with it the whole pass.
                        query
                            .execute(&mut *tx)
                            .await
                            .map_err(StoreError::db("linking a message to its escalations"))?;
                    }
                }
                sqlx::query(sql::RECORD_PASS)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::db("recording the scheduler's pass"))?;
                tx.commit()
                    .await
                    .map_err(StoreError::db("committing a scheduler pass"))?;
                Ok(report)
            }

            async fn digest_recipients(
                &self,
                occurrence: &str,
            ) -> Result<Vec<String>, $crate::store::StoreError> {
                use $crate::store::{sql, StoreError};
                sqlx::query_scalar(sql::SELECT_DIGEST_RECIPIENTS)
                    .bind(occurrence)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::db("reading which digests were queued"))
            }

            async fn queue_digests(
                &self,
                drafts: &[$crate::store::DigestDraft],
                actor: &$crate::store::Actor,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<usize, $crate::store::StoreError> {
                use $crate::outbox::{Destination, Payload};
                use $crate::store::rows::{json_text, stored_instant, AuditValues};
                use $crate::store::sql::{self, bind_audit_values};
                use $crate::store::StoreError;
                let now = stored_instant(now);
                let mut tx = self
                    .pool
                    .begin_with(Self::BEGIN_WRITE)
                    .await
                    .map_err(StoreError::db("starting to queue digests"))?;
                // Messages commit in the order of their ids (see the
                // scheduler's pass).
                for statement in Self::SERIALISE_OUTBOX_APPENDS {
                    sqlx::query(statement)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::db("waiting to append to the outbox"))?;
                }
                let mut queued = 0;
                for draft in drafts {
                    let recorded: Option<i64> = sqlx::query_scalar(sql::INSERT_DIGEST)
                        .bind(&draft.schedule)
                        .bind(&draft.period)
                        .bind(draft.occurrence.as_deref())
                        .bind(&draft.recipient)
                        .bind(&actor.name)
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(StoreError::db("recording a digest"))?;
                    // No row: this run was queued for them before.
                    let Some(digest_id) = recorded else { continue };
                    let message_id: i64 = sqlx::query_scalar(sql::INSERT_OUTBOX)
                        .bind(json_text(&Destination::Email(draft.recipient.clone())))
                        .bind(json_text(&Payload::Digest(draft.mail.clone())))
                        .bind(now)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(StoreError::db("queueing a digest"))?;
                    sqlx::query(sql::SET_DIGEST_MESSAGE)
                        .bind(digest_id)
                        .bind(message_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::db("linking a digest to its message"))?;
                    // The digest lists packages: who was sent it is audited.
                    let detail =
                        format!("{} {} to {}", draft.schedule, draft.period, draft.recipient);
                    let audit = AuditValues::new(actor, "digest.queued", Some(&detail), now);
                    bind_audit_values!(sqlx::query(&sql::insert_audit(1)), &audit)
                        .bind(None::<&str>)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::db("appending to the audit log"))?;
                    queued += 1;
                }
                tx.commit()
                    .await
                    .map_err(StoreError::db("committing queued digests"))?;
                Ok(queued)
            }

            async fn next_wake(
                &self,
            ) -> Result<Option<chrono::DateTime<chrono::Utc>>, $crate::store::StoreError> {
                use $crate::store::{sql, StoreError};
                type Instant = Option<chrono::DateTime<chrono::Utc>>;
                let (package_due, message_due): (Instant, Instant) = sqlx::query_as(sql::NEXT_WAKE)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(StoreError::db("finding the next instant there is work"))?;
                Ok(match (package_due, message_due) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                })
            }

            async fn oldest_claim(
                &self,
            ) -> Result<Option<chrono::DateTime<chrono::Utc>>, $crate::store::StoreError> {
                use $crate::store::{sql, StoreError};
                let oldest: Option<chrono::DateTime<chrono::Utc>> =
                    sqlx::query_scalar(sql::OLDEST_CLAIM)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(StoreError::db("finding the oldest claim on a message"))?;
                Ok(oldest)
            }

            async fn claim_outbox(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                worker: &str,
                lease: chrono::Duration,
                limit: u32,
            ) -> Result<Vec<$crate::store::OutboxMessage>, $crate::store::StoreError> {
                use $crate::store::rows::{stored_instant, OutboxRow};
                use $crate::store::{OutboxMessage, StoreError};
                if limit == 0 {
                    return Ok(Vec::new());
                }
                let held_since = now
                    .checked_sub_signed(lease)
                    .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
                let mut tx = self
                    .pool
                    .begin_with(Self::BEGIN_WRITE)
                    .await
                    .map_err(StoreError::db("starting to claim messages"))?;
                let mut claimed: Vec<OutboxRow> = sqlx::query_as(Self::CLAIM_OUTBOX)
                    .bind(stored_instant(now))
                    .bind(stored_instant(held_since))
                    .bind(worker)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(StoreError::db("claiming messages"))?;
                tx.commit()
                    .await
                    .map_err(StoreError::db("committing a claim of messages"))?;
                // RETURNING promises no order on either backend.
                claimed.sort_by_key(|row| row.id);
                claimed.into_iter().map(OutboxMessage::try_from).collect()
            }

            async fn finish_delivery(
                &self,
                id: i64,
                worker: &str,
                outcome: &$crate::store::DeliveryOutcome,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, $crate::store::StoreError> {
                use $crate::store::rows::stored_instant;
                use $crate::store::{sql, DeliveryOutcome, StoreError};
                let query = match outcome {
                    DeliveryOutcome::Sent => sqlx::query(sql::FINISH_SENT)
                        .bind(id)
                        .bind(worker)
                        .bind(stored_instant(now)),
                    DeliveryOutcome::Retry { at, error } => sqlx::query(sql::FINISH_RETRY)
                        .bind(id)
                        .bind(worker)
                        .bind(stored_instant(*at))
                        .bind(error.as_str()),
                    DeliveryOutcome::Dead { error } => sqlx::query(sql::FINISH_DEAD)
                        .bind(id)
                        .bind(worker)
                        .bind(error.as_str()),
                    DeliveryOutcome::Release => {
                        sqlx::query(sql::FINISH_RELEASE).bind(id).bind(worker)
                    }
                };
                // One statement: atomic on its own, and it reads nothing
                // before writing, so SQLite needs no IMMEDIATE transaction.
                let finished = query
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::db("recording how a delivery ended"))?
                    .rows_affected();
                Ok(finished == 1)
            }

            async fn delivery_stats(
                &self,
            ) -> Result<$crate::store::DeliveryStats, $crate::store::StoreError> {
                use $crate::store::rows::DeliveryCountRow;
                use $crate::store::{sql, DeliveryStats, StoreError};
                let groups: Vec<DeliveryCountRow> = sqlx::query_as(sql::DELIVERY_COUNTS)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::db("counting messages"))?;
                let mut stats = DeliveryStats::default();
                for group in &groups {
                    group.add_to(&mut stats)?;
                }
                stats.oldest_undelivered_at = sqlx::query_scalar(sql::OLDEST_UNDELIVERED)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(StoreError::db("finding the oldest undelivered message"))?;
                Ok(stats)
            }

            async fn scheduler_status(
                &self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::store::SchedulerStatus, $crate::store::StoreError> {
                use $crate::store::rows::stored_instant;
                use $crate::store::{sql, SchedulerStatus, StoreError};
                let (last_pass_at, oldest_due_at) = sqlx::query_as(sql::SCHEDULER_STATUS)
                    .bind(stored_instant(now))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(StoreError::db("reading the scheduler's status"))?;
                Ok(SchedulerStatus {
                    last_pass_at,
                    oldest_due_at,
                })
            }

            async fn escalations(
                &self,
                reference: &$crate::domain::Reference,
            ) -> Result<Vec<$crate::store::EscalationRecord>, $crate::store::StoreError> {
                use $crate::store::rows::{DeliveryRow, EscalationRow};
                use $crate::store::{sql, DeliveryRecord, StoreError};
                // Two reads, each its own snapshot: a pass may commit between
                // them. A delivery whose escalation the first read missed is
                // then left out, never shown under another escalation.
                let escalations: Vec<EscalationRow> = sqlx::query_as(sql::SELECT_ESCALATIONS)
                    .bind(reference.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::db("reading a package's escalations"))?;
                let deliveries: Vec<DeliveryRow> =
                    sqlx::query_as(sql::SELECT_ESCALATION_DELIVERIES)
                        .bind(reference.as_str())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(StoreError::db("reading a package's deliveries"))?;
                let mut by_escalation: std::collections::HashMap<i64, Vec<DeliveryRecord>> =
                    std::collections::HashMap::new();
                for row in deliveries {
                    let escalation_id = row.escalation_id;
                    by_escalation
                        .entry(escalation_id)
                        .or_default()
                        .push(DeliveryRecord::try_from(row)?);
                }
                escalations
                    .into_iter()
                    .map(|row| {
                        let deliveries = by_escalation.remove(&row.id).unwrap_or_default();
                        row.into_record(deliveries)
                    })
                    .collect()
            }
        }
    };
}
pub(super) use impl_store;
