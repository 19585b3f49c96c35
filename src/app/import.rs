//! The import use case: a CSV's rows checked under the intake rules
//! on the blocking pool and staged by the store as they come, all or
//! nothing, with memory flat in the file's size.

use super::{App, RowError};
use crate::domain::{Change, DueLevel, EventKind};
use crate::intake::{FieldError, HistoryFields, NewPackage};
use crate::store::{Actor, ImportCommitted, LedgerEntry, PastEvent, StagedDuplicates, StoreError};
use chrono::{DateTime, Utc};

/// At most this many faults of an import are kept and listed, the first by
/// line; the rest are counted. A wholly bad file of a million rows then
/// costs no more memory than a good one.
pub(crate) const IMPORT_FAULTS_LISTED: usize = 1_000;

/// Rows an import stages at a time.
const IMPORT_BATCH_ROWS: usize = 2_000;

/// Batches an import's reader may be ahead of the store: the reader and
/// the store run side by side, and memory holds at most this many batches
/// (and the one each side is working on).
const IMPORT_BATCHES_AHEAD: usize = 2;

/// The faults of an import: the first [`IMPORT_FAULTS_LISTED`] by line,
/// and how many in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportFaults {
    /// The first faults, by line.
    pub(crate) listed: Vec<RowError>,
    /// How many in all.
    pub(crate) total: u64,
}

impl ImportFaults {
    /// Counts `fault`, and keeps it while fewer than the most are kept.
    /// Faults are found in line order, so those kept are the first.
    fn add(&mut self, fault: RowError) {
        self.total += 1;
        if self.listed.len() < IMPORT_FAULTS_LISTED {
            self.listed.push(fault);
        }
    }

    /// Adds the duplicate references found by the store (the first by line,
    /// and their count).
    fn add_duplicates(&mut self, found: StagedDuplicates) {
        self.total += found.total;
        self.listed
            .extend(found.listed.into_iter().map(|d| RowError {
                line: d.line,
                column: Some("reference".into()),
                message: match d.first_line {
                    Some(first) => format!(
                        "{} appears twice in the file (first on line {first})",
                        d.reference
                    ),
                    None => format!("a package with reference {} already exists", d.reference),
                },
            }));
    }

    /// In line order (faults of one line in the order found), the first
    /// [`IMPORT_FAULTS_LISTED`] kept.
    fn sorted(mut self) -> Self {
        self.listed.sort_by_key(|e| e.line);
        self.listed.truncate(IMPORT_FAULTS_LISTED);
        self
    }

    /// How many were found but not kept.
    pub(crate) fn unlisted(&self) -> u64 {
        self.total.saturating_sub(self.listed.len() as u64)
    }
}

/// Rows an import's reader hands the store at a time: the entries, and
/// a history import's other past events and escalation levels, each with
/// its line.
#[derive(Debug, Default)]
struct StagedBatch {
    entries: Vec<(u64, LedgerEntry)>,
    events: Vec<(u64, PastEvent)>,
    escalations: Vec<(u64, DueLevel)>,
}

/// What a history adds to its ledger entry: its safeguarding updates, at
/// their own times, and the escalation levels of its past.
#[derive(Debug, Default)]
struct Past {
    events: Vec<PastEvent>,
    escalations: Vec<DueLevel>,
}

/// What the reading side of an import found.
struct AdmittedRows {
    faults: ImportFaults,
    count: usize,
    first_due: Option<DateTime<Utc>>,
}

/// Why an import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ImportError {
    /// The file has faults; the first are listed, all are counted.
    #[error("{} problem(s) in the file; nothing was imported", .0.total)]
    Rows(ImportFaults),
    /// Storage refused or failed (the database unreachable, a corrupt row).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl App {
    /// Imports packages, all or nothing, streamed: `rows` (each numbered by
    /// its line in the file, or a fault the reader found there) are read
    /// and checked on the blocking pool while the store stages the good
    /// ones, a bounded number of batches behind; memory stays flat
    /// whatever the file's size. Every fault is collected (the first
    /// [`IMPORT_FAULTS_LISTED`] kept, all counted), with the references
    /// repeated in the file (in any case) or stored already: one fault
    /// imports nothing.
    pub(crate) async fn import<I>(&self, rows: I, actor: &Actor) -> Result<usize, ImportError>
    where
        I: IntoIterator<Item = Result<(u64, NewPackage), RowError>>,
        I::IntoIter: Send + 'static,
    {
        let rows = rows
            .into_iter()
            .map(|row| row.map(|(line, input)| (line, input, None)));
        self.import_rows(rows, false, actor).await
    }

    /// Imports packages with their history (`import --history`), all or
    /// nothing, streamed, under the same rules as [`Self::import`]: each
    /// row is checked by [`crate::intake::IntakeRules::admit_history`], and
    /// the ledger records its receipt and stage moves at their historical
    /// times (recorded now, by `actor`; audited as `package.created` with
    /// the detail `imported history`). A package whose clock has stopped
    /// has nothing left to fall due, so nothing is ever sent for it; an
    /// open one is escalated as [`Self::import`] escalates it.
    pub(crate) async fn import_history<I>(
        &self,
        rows: I,
        actor: &Actor,
    ) -> Result<usize, ImportError>
    where
        I: IntoIterator<Item = Result<(u64, NewPackage, HistoryFields), RowError>>,
        I::IntoIter: Send + 'static,
    {
        let rows = rows
            .into_iter()
            .map(|row| row.map(|(line, input, history)| (line, input, Some(history))));
        self.import_rows(rows, true, actor).await
    }

    /// What [`Self::import`] and [`Self::import_history`] share: each row
    /// with its history fields in a history import (`history`).
    async fn import_rows<I>(
        &self,
        rows: I,
        history: bool,
        actor: &Actor,
    ) -> Result<usize, ImportError>
    where
        I: Iterator<Item = Result<(u64, NewPackage, Option<HistoryFields>), RowError>>
            + Send
            + 'static,
    {
        let now = self.now();
        let mut session = self.store.begin_import().await?;
        if history {
            session.history();
        }
        let (batches, mut staged) = tokio::sync::mpsc::channel(IMPORT_BATCHES_AHEAD);
        let app = self.clone();
        let reader = tokio::task::spawn_blocking(move || app.admit_rows(rows, now, &batches));
        let mut stage_failed = None;
        while let Some(batch) = staged.recv().await {
            let mut staged_batch = session.stage(&batch.entries).await;
            if staged_batch.is_ok() && !batch.events.is_empty() {
                staged_batch = session.stage_events(&batch.events).await;
            }
            if staged_batch.is_ok() && !batch.escalations.is_empty() {
                staged_batch = session.stage_escalations(&batch.escalations).await;
            }
            if let Err(e) = staged_batch {
                stage_failed = Some(e);
                break;
            }
        }
        // Closing the channel stops the reader at its next batch.
        drop(staged);
        let read = match reader.await {
            Ok(read) => read,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        if let Some(e) = stage_failed {
            return Err(e.into());
        }
        let AdmittedRows {
            mut faults,
            count,
            first_due,
        } = read;
        let duplicates = session.duplicates(IMPORT_FAULTS_LISTED).await?;
        faults.add_duplicates(duplicates);
        if faults.total > 0 {
            return Err(ImportError::Rows(faults.sorted()));
        }
        match session.commit(actor, now).await? {
            ImportCommitted::Imported(_) => {
                self.changed.due_at(first_due);
                // A bulk load leaves the planner's statistics describing
                // the tables before it: PostgreSQL then read the position
                // through the stage index, every open package (265 ms at a
                // million) until autovacuum came round. Committed already:
                // a failure here is logged, not the import's.
                if let Err(e) = self.store.maintain().await {
                    tracing::warn!(error = %e, "refreshing the planner's statistics after the import failed");
                }
                Ok(count)
            }
            // Another writer stored a reference since the check above.
            ImportCommitted::Duplicates(found) => {
                let mut faults = ImportFaults::default();
                faults.add_duplicates(found);
                Err(ImportError::Rows(faults.sorted()))
            }
        }
    }

    /// The ledger entry of a package's history (`changes` in order, the
    /// first its receipt): the package after the last change, that change's
    /// event, and the earlier ones before it, each at its own time. With
    /// it, for a package whose clock has stopped, the escalation levels
    /// that fell due before the stop (the latest occurrence of each, as a
    /// scheduler pass at that instant would have found them), to record as
    /// imported history, never sent; and its safeguarding facts as the
    /// updates that recorded them at their times (identified, then
    /// referred), each with the stage the package was in, so the reports'
    /// safeguarding figures count them as they happened.
    fn history_entry(&self, changes: Vec<Change>) -> (LedgerEntry, Past) {
        let safeguarding = *changes.last().expect("the receipt").package.safeguarding();
        let stage_at = |at: DateTime<Utc>| {
            changes
                .iter()
                .rev()
                .find(|c| c.occurred_at <= at)
                .map_or_else(|| changes[0].package.stage(), |c| c.package.stage())
        };
        let mut events = Vec::new();
        if let Some(access) = safeguarding.child_access_identified_at() {
            let referral = safeguarding.referral_made_at();
            let mut update = |at: DateTime<Utc>, referral_made_at| {
                events.push(PastEvent {
                    event: EventKind::SafeguardingUpdated {
                        child_access_identified_at: Some(access),
                        referral_made_at,
                    },
                    occurred_at: at,
                    stage: stage_at(at),
                });
            };
            if referral == Some(access) {
                update(access, referral);
            } else {
                update(access, None);
                if let Some(at) = referral {
                    update(at, referral);
                }
            }
        }
        let escalations = match changes.as_slice() {
            [.., before, stop] if stop.package.state().stop().is_some() => {
                // Strictly before the stop: a package enforced at its
                // deadline met it, and owes no breach.
                let until = stop.occurred_at - chrono::Duration::microseconds(1);
                self.settings
                    .ladder_timing()
                    .plan(&before.package, until)
                    .due
            }
            _ => Vec::new(),
        };
        let mut changes = changes.into_iter();
        let mut last = changes.next().expect("a history starts with its receipt");
        let mut preceded_by = Vec::new();
        for change in changes {
            preceded_by.push((last.event, last.occurred_at));
            last = change;
        }
        let mut entry = self.entry(last);
        entry.preceded_by = preceded_by;
        (
            entry,
            Past {
                events,
                escalations,
            },
        )
    }

    /// The reading side of [`Self::import`]: checks each row under the
    /// intake rules at `now` and sends the good ones' entries in batches;
    /// returns the faults, how many rows were good and the earliest due
    /// instant among them. Stops early if the receiver has gone.
    fn admit_rows(
        &self,
        rows: impl Iterator<Item = Result<(u64, NewPackage, Option<HistoryFields>), RowError>>,
        now: DateTime<Utc>,
        batches: &tokio::sync::mpsc::Sender<StagedBatch>,
    ) -> AdmittedRows {
        let rules = self.intake_rules();
        let mut read = AdmittedRows {
            faults: ImportFaults::default(),
            count: 0,
            first_due: None,
        };
        let mut batch = StagedBatch::default();
        for row in rows {
            let (line, input, history) = match row {
                Ok(row) => row,
                Err(fault) => {
                    read.faults.add(fault);
                    continue;
                }
            };
            let admitted = match &history {
                None => rules
                    .admit(&input, now)
                    .map(|package| (self.created_entry(package), Past::default())),
                Some(history) => rules
                    .admit_history(&input, history, now)
                    .map(|changes| self.history_entry(changes)),
            };
            match admitted {
                Ok((entry, past)) => {
                    read.first_due = match (read.first_due, entry.next_due_at) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    read.count += 1;
                    batch.entries.push((line, entry));
                    batch
                        .events
                        .extend(past.events.into_iter().map(|event| (line, event)));
                    batch
                        .escalations
                        .extend(past.escalations.into_iter().map(|due| (line, due)));
                    if batch.entries.len() == IMPORT_BATCH_ROWS {
                        let full = std::mem::take(&mut batch);
                        if batches.blocking_send(full).is_err() {
                            return read;
                        }
                    }
                }
                Err(faults) => {
                    for FieldError { field, message } in faults {
                        read.faults.add(RowError {
                            line,
                            column: Some(field.into()),
                            message,
                        });
                    }
                }
            }
        }
        if !batch.entries.is_empty() {
            // A closed receiver has failed already and says why.
            let _ = batches.blocking_send(batch);
        }
        read
    }
}
