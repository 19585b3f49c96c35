//! The escalation scheduler: wakes at the earliest due instant (or sooner,
//! when a change brings that instant forward or the safety tick fires; see
//! [`crate::wake`]), and in each pass turns due escalation levels into
//! recorded escalations and queued messages, one message per recipient
//! listing every package that fell due for them.
//!
//! The deciding is pure ([`Escalator`]); the store runs it inside one
//! transaction per pass, so a pass is all or nothing and, through each
//! escalation's unique key, never records the same escalation twice, however
//! many times it runs or on however many instances.

use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::{DueLevel, Package, PackageClock, Relation};
use crate::outbox::{Destination, Notice, NoticeItem, NoticeKind, OutboxDraft};
use crate::store::{
    failure_kind, DueDecision, EscalationDraft, PassSummary, RecordedEscalation, Store, StoreError,
};
use crate::wake::{self, Alarm, Backoff, FailureLog};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Notify;

/// How often the scheduler refreshes the database planner's statistics.
pub(crate) const MAINTAIN_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// How often the scheduler moves the position's mark to now (the loop
/// wakes at least every safety tick, so the mark is at most a minute and a
/// tick old).
pub(crate) const MARK_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Decides what a due package owes and how the messages are grouped.
#[derive(Debug, Clone)]
pub(crate) struct Escalator {
    settings: Arc<Settings>,
}

/// What a level's notice says, from its clock and where it lies on it.
pub(crate) fn notice_kind(clock: PackageClock, relation: Relation) -> NoticeKind {
    match (clock, relation) {
        (PackageClock::Safeguarding, Relation::Before) => NoticeKind::SafeguardingDueSoon,
        (PackageClock::Safeguarding, _) => NoticeKind::SafeguardingOverdue,
        (PackageClock::Enforcement, Relation::Before) => NoticeKind::DueSoon,
        (PackageClock::Enforcement, Relation::At) => NoticeKind::Breached,
        (PackageClock::Enforcement, Relation::After) => NoticeKind::LongOverdue,
        (PackageClock::Review, Relation::Before) => NoticeKind::ReviewDueSoon,
        (PackageClock::Review, _) => NoticeKind::ReviewOverdue,
    }
}

impl Escalator {
    /// An escalator under `settings`.
    pub(crate) fn new(settings: Arc<Settings>) -> Self {
        Self { settings }
    }

    /// Who hears of `level` for `package`: the level's audience as
    /// configuration resolved it ([`Settings::audience`]: its groups for
    /// the package's LPA, the assigned officer, the webhooks that take the
    /// level), whatever their channels. Sorted, no repeats; empty for a
    /// level not on the ladder.
    pub(crate) fn destinations(&self, level: &str, package: &Package) -> Vec<Destination> {
        self.settings
            .audience(level)
            .map(|audience| audience.destinations(package))
            .unwrap_or_default()
    }

    /// The package's line in a notice for `due`.
    pub(crate) fn item(&self, package: &Package, due: &DueLevel) -> NoticeItem {
        let kind = notice_kind(due.clock, due.relation);
        NoticeItem {
            kind,
            level: due.level.clone(),
            occurrence: due.occurrence,
            reference: package.reference().to_string(),
            risk_grade: package.grade(),
            lpa: package.lpa().to_string(),
            stage: package.stage(),
            received_at: package.received_at(),
            deadline_at: package.deadline().at(),
            referral_due_at: (due.clock == PackageClock::Safeguarding).then_some(due.clock_due_at),
            review_due_at: (due.clock == PackageClock::Review).then_some(due.clock_due_at),
            assigned_officer: package.assigned_officer().map(ToString::to_string),
            link: self.settings.package_link(package.reference().as_str()),
        }
    }

    /// What `package` owes at `now`, and its next due instant.
    pub(crate) fn decide(&self, package: &Package, now: DateTime<Utc>) -> DueDecision {
        let plan = self.settings.ladder_timing().plan(package, now);
        DueDecision {
            escalations: plan
                .due
                .into_iter()
                .map(|due| EscalationDraft {
                    destinations: self.destinations(&due.level, package),
                    item: self.item(package, &due),
                    due,
                })
                .collect(),
            next_due_at: plan.next_due_at,
        }
    }

    /// One message per destination listing every newly recorded escalation
    /// for it, most urgent first.
    pub(crate) fn compose(
        &self,
        recorded: Vec<RecordedEscalation>,
        now: DateTime<Utc>,
    ) -> Vec<OutboxDraft> {
        let mut by_destination: BTreeMap<Destination, (Vec<NoticeItem>, Vec<i64>)> =
            BTreeMap::new();
        for escalation in recorded {
            for destination in escalation.destinations {
                let entry = by_destination.entry(destination).or_default();
                entry.0.push(escalation.item.clone());
                entry.1.push(escalation.id);
            }
        }
        by_destination
            .into_iter()
            .map(|(destination, (items, escalation_ids))| {
                let mut notice = Notice {
                    marking: self.settings.marking().to_string(),
                    force: self.settings.config.force.name.clone(),
                    time_zone: self.settings.time_zone,
                    as_of: now,
                    items,
                };
                notice.sort();
                OutboxDraft {
                    destination,
                    notice,
                    escalation_ids,
                }
            })
            .collect()
    }
}

/// How the service's scheduler passes are going: shared by the scheduler's
/// loop, which records each pass, with `/readyz` (not ready while passes
/// fail: every pass writes, so a failing pass means failing writes) and
/// `/api/v1/status` (the last failure, when and of what kind).
#[derive(Debug, Default)]
pub(crate) struct PassHealth {
    state: std::sync::Mutex<PassHealthFigures>,
}

/// What [`PassHealth`] holds at an instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PassHealthFigures {
    /// The last pass failed, and none has succeeded since.
    pub(crate) failing: bool,
    /// When a pass last failed, and the kind of failure
    /// ([`failure_kind`]: `disk`, `unreachable`, `locked`...).
    pub(crate) last_failure: Option<(DateTime<Utc>, &'static str)>,
}

impl PassHealth {
    /// A pass succeeded: the scheduler is healthy again.
    pub(crate) fn succeeded(&self) {
        self.state
            .lock()
            .expect("pass health lock poisoned")
            .failing = false;
    }

    /// A pass failed at `at` with a failure of `kind`.
    pub(crate) fn failed(&self, at: DateTime<Utc>, kind: &'static str) {
        *self.state.lock().expect("pass health lock poisoned") = PassHealthFigures {
            failing: true,
            last_failure: Some((at, kind)),
        };
    }

    /// The figures now.
    pub(crate) fn figures(&self) -> PassHealthFigures {
        *self.state.lock().expect("pass health lock poisoned")
    }
}

/// Runs passes: on demand, and as a loop until shutdown.
#[derive(Debug, Clone)]
pub struct Scheduler {
    store: Arc<dyn Store>,
    escalator: Escalator,
    clock: Arc<dyn Clock>,
    pass_limit: u32,
    health: Arc<PassHealth>,
}

impl Scheduler {
    /// A scheduler over `store`.
    pub fn new(store: Arc<dyn Store>, settings: Arc<Settings>, clock: Arc<dyn Clock>) -> Self {
        let pass_limit = settings.config.scheduler.pass_limit;
        Self {
            store,
            escalator: Escalator::new(settings),
            clock,
            pass_limit,
            health: Arc::default(),
        }
    }

    /// The scheduler, recording how its loop's passes go in `health` (the
    /// application's, which `/readyz` and `/api/v1/status` read).
    pub(crate) fn with_health(self, health: Arc<PassHealth>) -> Self {
        Self { health, ..self }
    }

    /// Runs passes at the clock's "now" until no due package is left (a
    /// pass takes at most `pass_limit` packages). Returns the totals.
    pub async fn run_due(&self) -> Result<PassSummary, StoreError> {
        let mut total = PassSummary::default();
        loop {
            let now = self.clock.now();
            let escalator = self.escalator.clone();
            let composer = self.escalator.clone();
            let report = self
                .store
                .escalation_pass(
                    now,
                    self.pass_limit,
                    &move |package| escalator.decide(package, now),
                    &move |recorded| composer.compose(recorded, now),
                )
                .await?;
            total.packages += report.packages;
            total.recorded += report.recorded;
            total.superseded += report.superseded;
            total.messages += report.messages;
            total.merged += report.merged;
            if report.packages < self.pass_limit as usize {
                return Ok(total);
            }
        }
    }

    /// Runs until `shutdown` completes: a pass whenever due work may exist,
    /// then sleeps until the earliest next due instant, a wake-up from
    /// `alarm` (a change to the ledger that brings work forward, the safety
    /// tick), or shutdown. `delivered` is woken after each pass that queued
    /// messages.
    pub(crate) async fn run(
        self,
        alarm: Arc<Alarm>,
        delivered: Arc<Notify>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut maintained = std::time::Instant::now();
        let mut marked: Option<std::time::Instant> = None;
        let mut backoff = Backoff::default();
        let mut failures = FailureLog::default();
        loop {
            // Keep the query planner's statistics fresh as the ledger grows
            // (SQLite; a no-op on PostgreSQL, whose autovacuum does it).
            if maintained.elapsed() >= MAINTAIN_EVERY {
                if let Err(e) = self.store.maintain().await {
                    tracing::warn!(error = %e, "refreshing the planner's statistics failed");
                }
                maintained = std::time::Instant::now();
            }
            // Keep the position's mark recent, so a read of the position
            // adds only the deadlines passed in the last minute or so.
            if marked.is_none_or(|at| at.elapsed() >= MARK_EVERY) {
                if let Err(e) = self.store.advance_position_mark(self.clock.now()).await {
                    tracing::warn!(error = %e, "moving the position's mark failed");
                }
                marked = Some(std::time::Instant::now());
            }
            let retry_at = match self.run_due().await {
                Ok(report) => {
                    self.health.succeeded();
                    backoff.succeeded();
                    if report.messages > 0 || report.merged > 0 {
                        tracing::info!(
                            packages = report.packages,
                            escalations = report.recorded,
                            messages = report.messages,
                            added_to_waiting = report.merged,
                            "escalations queued"
                        );
                        delivered.notify_one();
                    }
                    None
                }
                Err(e) => {
                    let kind = failure_kind(&e);
                    let now = self.clock.now();
                    self.health.failed(now, kind);
                    let retry_at = backoff.retry_at(now);
                    // One line per failure kind (`disk`, `locked`, ...) per
                    // quiet time, whichever statement failed.
                    if let Some(left_out) = failures.admit(kind, std::time::Instant::now()) {
                        tracing::error!(error = %e, kind, %retry_at, same_failures_not_logged = left_out, "scheduler pass failed; will retry");
                    }
                    Some(retry_at)
                }
            };
            // After a failure, the due work is what failed: wait for the
            // retry rather than for it.
            let until = match retry_at {
                Some(at) => at,
                None => wake::sleep_until(
                    wake::next_work(self.store.next_wake()).await,
                    self.clock.now(),
                ),
            };
            if alarm.sleep(until, self.clock.as_ref(), &mut shutdown).await {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;
    use crate::domain::{
        Lpas, OfficerEmail, OpenStage, PackageParts, PackageState, Reference, RiskGrade,
        Safeguarding,
    };

    const CONFIG: &str = r#"
[force]
lpas = ["Birmingham", "Coventry"]
[recipients.ocset_sergeants]
default = ["sgts@force.example"]
by_lpa = { Birmingham = ["bham.sgts@force.example"] }
[recipients.ocset_inspector]
default = ["insp@force.example"]
[recipients.ppu_slt]
default = ["slt@force.example"]
[[webhook]]
name = "ocset-teams"
url = "https://teams.example/hook/secret-path"
levels = ["breach"]
format = "teams"
[mail]
marking = "OFFICIAL-SENSITIVE"
"#;

    fn escalator() -> (Escalator, Arc<Settings>) {
        let settings = Arc::new(load_str(CONFIG, "test.toml", Vec::new()).unwrap());
        (Escalator::new(settings.clone()), settings)
    }

    fn package(settings: &Settings, reference: &str, lpa: &str, officer: Option<&str>) -> Package {
        let received_at: DateTime<Utc> = "2024-01-01T00:00:00Z".parse().unwrap();
        Package::from_parts(PackageParts {
            reference: Reference::parse(reference).unwrap(),
            received_at,
            lpa: Lpas::restore(lpa.into()),
            assigned_officer: officer.map(|o| OfficerEmail::parse(o).unwrap()),
            deadline: settings.policy.initial(RiskGrade::VeryHigh, received_at),
            state: PackageState::Open {
                stage: OpenStage::AwaitingEnforcement,
                since: received_at,
            },
            safeguarding: Safeguarding::default(),
            acknowledgement: None,
            review_clock_started_at: None,
        })
    }

    fn email(address: &str) -> Destination {
        Destination::Email(address.into())
    }

    #[test]
    fn destinations_follow_the_level_the_lpa_the_officer_and_the_webhooks() {
        let (e, settings) = escalator();
        let bham = package(
            &settings,
            "A-1",
            "Birmingham",
            Some("pc.one@force.police.uk"),
        );
        assert_eq!(
            e.destinations("warning", &bham),
            [
                email("bham.sgts@force.example"),
                email("pc.one@force.police.uk")
            ]
        );
        assert_eq!(
            e.destinations("breach", &bham),
            [
                email("bham.sgts@force.example"),
                email("insp@force.example"),
                Destination::Webhook("ocset-teams".into())
            ]
        );
        let coventry = package(&settings, "A-2", "Coventry", None);
        assert_eq!(
            e.destinations("warning", &coventry),
            [email("sgts@force.example")],
            "no officer assigned"
        );
        assert_eq!(
            e.destinations("senior", &coventry),
            [email("slt@force.example")]
        );
        assert!(e.destinations("no-such-level", &coventry).is_empty());
    }

    #[test]
    fn compose_makes_one_notice_per_destination_most_urgent_first() {
        let (e, settings) = escalator();
        let now: DateTime<Utc> = "2024-01-05T00:00:00Z".parse().unwrap();
        let a = package(&settings, "A-1", "Coventry", None);
        let b = package(&settings, "B-2", "Coventry", None);
        let plan_a = e.decide(&a, now);
        let plan_b = e.decide(&b, "2024-01-02T13:00:00Z".parse().unwrap());
        let breach_a = plan_a
            .escalations
            .iter()
            .find(|d| d.due.level == "breach")
            .unwrap();
        let warning_b = &plan_b.escalations[0];
        assert_eq!(warning_b.due.level, "warning");
        let recorded = vec![
            RecordedEscalation {
                id: 7,
                destinations: warning_b.destinations.clone(),
                item: warning_b.item.clone(),
            },
            RecordedEscalation {
                id: 9,
                destinations: breach_a.destinations.clone(),
                item: breach_a.item.clone(),
            },
        ];
        let drafts = e.compose(recorded, now);
        let to: Vec<&Destination> = drafts.iter().map(|d| &d.destination).collect();
        assert_eq!(
            to,
            [
                &email("insp@force.example"),
                &email("sgts@force.example"),
                &Destination::Webhook("ocset-teams".into())
            ]
        );
        let sergeants = &drafts[1];
        assert_eq!(sergeants.escalation_ids, [7, 9]);
        let order: Vec<&str> = sergeants
            .notice
            .items
            .iter()
            .map(|i| i.reference.as_str())
            .collect();
        assert_eq!(order, ["A-1", "B-2"], "the breach before the warning");
        assert_eq!(sergeants.notice.marking, "OFFICIAL-SENSITIVE");
        assert_eq!(sergeants.notice.as_of, now);
        assert_eq!(sergeants.notice.time_zone.name(), "Europe/London");
    }
}
