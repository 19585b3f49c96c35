//! The application: every use case the CLI, the API and the jobs run, over
//! the store, the checked settings and the clock together, so every caller
//! applies the same rules in the same way. (Not to be confused with the
//! *ledger*, the append-only record of package events it writes to.) Commands and
//! handlers go through its methods, never the store: packages here, reports
//! and digests in [`reports`], the audit log, tokens and operational
//! figures in [`admin`], backups and restores in [`backup`].

mod admin;
mod backup;
mod capacity;
mod export;
mod import;
mod read_audit;
mod reports;
mod retention;

pub(crate) use admin::TokenError;
pub(crate) use export::PackageExport;
pub(crate) use import::{ImportError, ImportFaults, IMPORT_FAULTS_LISTED};
pub use retention::RetentionOutcome;

use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::{
    Change, Lpa, MoveRefused, Outcome, Package, PackageStatus, Reference, RiskGrade, Stage,
};
use crate::intake::{FieldError, IntakeRules, NewPackage};
use crate::position::CurrentPosition;
use crate::store::{
    Actor, EscalationRecord, LedgerEntry, LedgerEvent, PackageFilter, Store, StoreError,
};
use crate::wake::Alarm;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// The application facade: storage, settings and clock, and the use cases
/// over them.
#[derive(Debug, Clone)]
pub struct App {
    store: Arc<dyn Store>,
    settings: Arc<Settings>,
    clock: Arc<dyn Clock>,
    changed: Arc<Alarm>,
    /// How the service's scheduler passes are going (its loop records them).
    pass_health: Arc<crate::scheduler::PassHealth>,
    /// Reads' audit lines, committed together when readers overlap.
    reads: Arc<read_audit::ReadAudit>,
    /// Single sign-on, when `[auth.oidc]` is configured: the issuer's
    /// endpoints and keys, fetched when first needed.
    oidc: Option<Arc<crate::oidc::Oidc>>,
}

/// A package as readers see it: every stored fact plus its derived status.
/// This is the shape of `list --json` and of the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct PackageView {
    /// The case system's reference.
    pub(crate) reference: String,
    /// The current grade.
    pub(crate) risk_grade: RiskGrade,
    /// The current stage.
    pub(crate) stage: Stage,
    /// The LPA.
    pub(crate) lpa: String,
    /// When it was received.
    pub(crate) received_at: DateTime<Utc>,
    /// When enforcement is due by.
    pub(crate) deadline_at: DateTime<Utc>,
    /// Derived at the time of asking.
    pub(crate) status: PackageStatus,
    /// The assigned officer's address, if assigned.
    pub(crate) assigned_officer: Option<String>,
    /// The deadline policy version the deadline was computed under.
    pub(crate) policy_version: String,
    /// Where the timescale counts from (receipt, or a regrade).
    pub(crate) clock_started_at: DateTime<Utc>,
    /// When the package becomes (or became) due soon, if any level warns.
    pub(crate) due_soon_at: Option<DateTime<Utc>>,
    /// When the enforcement clock stopped.
    pub(crate) clock_stopped_at: Option<DateTime<Utc>>,
    /// How it stopped.
    pub(crate) outcome: Option<Outcome>,
    /// When child access was identified.
    pub(crate) child_access_identified_at: Option<DateTime<Utc>>,
    /// When the social-services referral was made.
    pub(crate) safeguarding_referral_at: Option<DateTime<Utc>>,
    /// Where the review clock last (re)started: the last review, the
    /// upgrade that introduced reviews, or receipt.
    pub(crate) review_clock_started_at: DateTime<Utc>,
    /// When the next risk review is due; null once the package is enforced
    /// or closed.
    pub(crate) next_review_due_at: Option<DateTime<Utc>>,
}

/// One fault in an import, where a sergeant can find it in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// The line in the file (1 is the header).
    pub(crate) line: u64,
    /// The column, when the fault is in one.
    pub(crate) column: Option<String>,
    /// What is wrong with the value, in words a sergeant can act on.
    pub(crate) message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(column) => write!(f, "line {}, column {}: {}", self.line, column, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// A package with its history and its escalations.
#[derive(Debug, Clone)]
pub struct PackageRecord {
    /// The package as it stands now, after every event in `events`.
    pub(crate) package: Package,
    /// Its ledger, oldest first.
    pub(crate) events: Vec<LedgerEvent>,
    /// Its escalations and their deliveries, oldest first.
    pub escalations: Vec<EscalationRecord>,
}

/// Is the scheduler keeping up? Part of the status answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SchedulerFigures {
    /// When the scheduler last ran a pass.
    pub last_pass_at: Option<DateTime<Utc>>,
    /// How long the oldest due work has waited to be looked at (0 when
    /// nothing due is waiting).
    pub(crate) lag_seconds: i64,
    /// Messages queued or being sent, not yet delivered.
    pub due_not_delivered: u64,
    /// Messages given up after their last attempt or a permanent failure.
    pub dead: u64,
    /// True while the scheduler's passes fail (the last one failed, none
    /// has succeeded since): writes are failing, and `/readyz` says 503.
    pub passes_failing: bool,
    /// When a pass last failed (kept after recovery).
    pub last_failure_at: Option<DateTime<Utc>>,
    /// What kind of failure that was: `disk` (full, I/O error, read-only),
    /// `unreachable`, `locked`, `constraint`, `database`, `data` or `other`.
    pub last_failure_kind: Option<&'static str>,
}

/// Why a new package was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// Fields are not valid; each fault is listed.
    #[error("the package is not valid")]
    Invalid(Vec<FieldError>),
    /// Storage refused or failed (a duplicate reference among others).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl App {
    /// The application over `store` with `settings` and `clock`.
    pub fn new(store: Arc<dyn Store>, settings: Arc<Settings>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            changed: Arc::new(Alarm::new()),
            pass_health: Arc::default(),
            reads: Arc::default(),
            oidc: settings
                .oidc()
                .map(|oidc| Arc::new(crate::oidc::Oidc::new(oidc.clone(), clock.clone()))),
            settings,
            clock,
        }
    }

    /// Single sign-on, when configured.
    pub(crate) fn oidc(&self) -> Option<&crate::oidc::Oidc> {
        self.oidc.as_deref()
    }

    /// Appends the audit line of a read (shown something) before it is
    /// answered, sharing the commit with concurrent readers.
    pub(crate) async fn audit_read(
        &self,
        actor: &Actor,
        action: &str,
        reference: Option<&Reference>,
        detail: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let line = crate::store::AuditLine {
            actor: actor.clone(),
            action: action.to_string(),
            reference: reference.cloned(),
            detail: detail.map(str::to_string),
            at,
        };
        self.reads.append(&self.store, line).await
    }

    /// How the service's scheduler passes are going: the scheduler's loop
    /// records each pass in it; readiness and the status read it.
    pub(crate) fn pass_health(&self) -> Arc<crate::scheduler::PassHealth> {
        self.pass_health.clone()
    }

    /// The store underneath, for wiring the background jobs that own their
    /// queries (the scheduler, the dispatcher). Commands and handlers use
    /// the methods of the facade instead.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Told every write's new due instant, so the scheduler looks at a
    /// changed package at once (rather than at its next tick) when the
    /// change brings its work forward.
    pub(crate) fn changed(&self) -> Arc<Alarm> {
        self.changed.clone()
    }

    /// The clock "now" is read from: the system clock in service, a test's
    /// own clock in tests.
    pub(crate) fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// The settings, shared.
    pub(crate) fn settings_arc(&self) -> Arc<Settings> {
        self.settings.clone()
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The current instant, from the app's clock.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The rules new packages are admitted under.
    pub fn intake_rules(&self) -> IntakeRules {
        IntakeRules {
            policy: self.settings.policy.clone(),
            lpas: self.settings.lpas.clone(),
        }
    }

    fn entry(&self, change: Change) -> LedgerEntry {
        let timing = self.settings.ladder_timing();
        LedgerEntry {
            next_due_at: timing.first_due(&change.package),
            due_soon_at: timing.due_soon_at(&change.package),
            package: change.package,
            event: change.event,
            occurred_at: change.occurred_at,
            preceded_by: Vec::new(),
        }
    }

    /// The ledger entry that records a newly received package.
    pub fn created_entry(&self, package: Package) -> LedgerEntry {
        let occurred_at = package.received_at();
        let event = package.created_event();
        self.entry(Change {
            package,
            occurred_at,
            event,
        })
    }

    /// Creates one package under the intake rules.
    pub async fn create(&self, input: &NewPackage, actor: &Actor) -> Result<Package, CreateError> {
        let now = self.now();
        let package = self
            .intake_rules()
            .admit(input, now)
            .map_err(CreateError::Invalid)?;
        let entry = self.created_entry(package.clone());
        let due = entry.next_due_at;
        self.store.insert_packages(&[entry], actor, now).await?;
        self.changed.due_at(due);
        Ok(package)
    }

    /// One package and its history, recording the read in the audit log
    /// first: no package is shown without its read being on record.
    pub async fn read(
        &self,
        reference: &Reference,
        actor: &Actor,
    ) -> Result<Option<PackageRecord>, StoreError> {
        let Some(package) = self.store.package(reference).await? else {
            return Ok(None);
        };
        // Found in any case; the history and the audit line use the
        // reference as stored.
        let reference = package.reference();
        self.audit_read(actor, "package.read", Some(reference), None, self.now())
            .await?;
        let events = self.store.events(reference).await?;
        let escalations = self.store.escalations(reference).await?;
        Ok(Some(PackageRecord {
            package,
            events,
            escalations,
        }))
    }

    /// The scheduler's and the outbox's figures at the current instant.
    pub async fn scheduler_figures(&self) -> Result<SchedulerFigures, StoreError> {
        let now = self.now();
        let status = self.store.scheduler_status(now).await?;
        let stats = self.store.delivery_stats().await?;
        let health = self.pass_health.figures();
        Ok(SchedulerFigures {
            passes_failing: health.failing,
            last_failure_at: health.last_failure.map(|(at, _)| at),
            last_failure_kind: health.last_failure.map(|(_, kind)| kind),
            last_pass_at: status.last_pass_at,
            lag_seconds: status
                .oldest_due_at
                .map_or(0, |due| (now - due).num_seconds().max(0)),
            due_not_delivered: stats.pending + stats.sending,
            dead: stats.dead,
        })
    }

    /// The current position, for all LPAs or one.
    pub(crate) async fn position(&self, lpa: Option<&Lpa>) -> Result<CurrentPosition, StoreError> {
        let now = self.now();
        let rows = self
            .store
            .position(now, crate::position::due_by(now), lpa.map(Lpa::as_str))
            .await?;
        Ok(CurrentPosition::from_rows(
            &rows,
            now,
            lpa.map(ToString::to_string),
        ))
    }

    /// How many open packages, not yet breached, fall due within `within`
    /// of now, for all LPAs or one: the position's "due soon" figure with
    /// another horizon (the dashboard's "due within 48 hours").
    pub(crate) async fn due_within(
        &self,
        lpa: Option<&Lpa>,
        within: chrono::Duration,
    ) -> Result<u64, StoreError> {
        let now = self.now();
        let rows = self
            .store
            .position(now, now + within, lpa.map(Lpa::as_str))
            .await?;
        Ok(rows.iter().map(|row| row.due_soon).sum())
    }

    /// Applies a domain move to one package: `make` receives the package as
    /// stored (held against other writers) and the current instant.
    pub async fn change(
        &self,
        reference: &Reference,
        actor: &Actor,
        make: impl FnOnce(&Package, DateTime<Utc>) -> Result<Change, MoveRefused> + Send + 'static,
    ) -> Result<Package, StoreError> {
        self.write(reference, actor, move |app, package, now| {
            make(package, now).map(|change| app.entry(change))
        })
        .await
    }

    /// Writes the ledger entry `make` builds from the package as stored
    /// (held against other writers) at the current instant, then wakes the
    /// scheduler if the package now falls due sooner: what every move
    /// shares.
    async fn write(
        &self,
        reference: &Reference,
        actor: &Actor,
        make: impl FnOnce(&App, &Package, DateTime<Utc>) -> Result<LedgerEntry, MoveRefused>
            + Send
            + 'static,
    ) -> Result<Package, StoreError> {
        let now = self.now();
        let app = self.clone();
        let result = self
            .store
            .update_package(
                reference,
                actor,
                now,
                Box::new(move |package| make(&app, package, now)),
            )
            .await;
        if let Ok(package) = &result {
            self.changed
                .due_at(self.settings.ladder_timing().first_due(package));
        }
        result
    }

    /// Records a supervisor's review of a package's risk
    /// ([`Package::review`]): confirming the grade, or changing it to
    /// `grade` by a regrade with its usual rules, at `reviewed_at` (now when
    /// absent). The regrade, if any, and the review are written in one
    /// transaction, each with its audit line; the review clock restarts.
    pub async fn review(
        &self,
        reference: &Reference,
        actor: &Actor,
        grade: Option<RiskGrade>,
        note: String,
        reviewed_at: Option<DateTime<Utc>>,
    ) -> Result<Package, StoreError> {
        self.write(reference, actor, move |app, package, now| {
            let settings = &app.settings;
            let review = package.review(
                grade,
                &note,
                reviewed_at.unwrap_or(now),
                now,
                &settings.policy,
                &settings.ladder_timing().review_every,
            )?;
            let mut entry = app.entry(review.review);
            entry.preceded_by = review
                .regrade
                .map(|regrade| (regrade.event, regrade.occurred_at))
                .into_iter()
                .collect();
            Ok(entry)
        })
        .await
    }

    /// The view of one package at the current instant.
    pub(crate) fn view(&self, package: &Package) -> PackageView {
        let timing = self.settings.ladder_timing();
        let stop = package.state().stop();
        PackageView {
            reference: package.reference().to_string(),
            risk_grade: package.grade(),
            stage: package.stage(),
            lpa: package.lpa().to_string(),
            received_at: package.received_at(),
            deadline_at: package.deadline().at(),
            status: timing.status(package, self.now()),
            assigned_officer: package.assigned_officer().map(ToString::to_string),
            policy_version: package.deadline().policy_version().to_string(),
            clock_started_at: package.deadline().clock_started_at(),
            due_soon_at: timing.due_soon_at(package),
            clock_stopped_at: stop.map(|s| s.at()),
            outcome: stop.map(|s| s.outcome()),
            child_access_identified_at: package.safeguarding().child_access_identified_at(),
            safeguarding_referral_at: package.safeguarding().referral_made_at(),
            review_clock_started_at: package.review_clock_started_at(),
            next_review_due_at: package.review_due_at(&timing.review_every, timing.time_zone),
        }
    }

    /// Packages matching `filter`, as views, ordered by deadline. The read is
    /// recorded in the audit log (`packages.listed`, with the filter and how
    /// many were shown, never the references).
    pub(crate) async fn list(
        &self,
        filter: &PackageFilter,
        actor: &Actor,
    ) -> Result<Vec<PackageView>, StoreError> {
        let packages = self.list_packages(filter, actor).await?;
        Ok(packages.iter().map(|p| self.view(p)).collect())
    }

    /// As [`App::list`], the packages themselves (the dashboard also shows
    /// each one's acknowledgement); audited the same way.
    pub(crate) async fn list_packages(
        &self,
        filter: &PackageFilter,
        actor: &Actor,
    ) -> Result<Vec<Package>, StoreError> {
        let packages = self.store.list_packages(filter).await?;
        let detail = describe_filter(filter, packages.len());
        self.audit_read(actor, "packages.listed", None, Some(&detail), self.now())
            .await?;
        Ok(packages)
    }
}

/// A filter as an audit detail: `open_only=true grade=high count=12`.
fn describe_filter(filter: &PackageFilter, count: usize) -> String {
    let mut parts = Vec::new();
    if filter.open_only {
        parts.push("open_only=true".to_string());
    }
    if let Some(grade) = filter.grade {
        parts.push(format!("grade={grade}"));
    }
    if let Some(lpa) = &filter.lpa {
        parts.push(format!("lpa={lpa}"));
    }
    if let Some(stage) = filter.stage {
        parts.push(format!("stage={stage}"));
    }
    if let Some((status, _)) = filter.status {
        parts.push(format!("status={status}"));
    }
    if let Some((after, by)) = filter.deadline_within {
        parts.push(format!(
            "deadline_within={}..{}",
            after.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            by.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    if filter.after.is_some() {
        parts.push("page=next".to_string());
    }
    parts.push(format!("count={count}"));
    parts.join(" ")
}
