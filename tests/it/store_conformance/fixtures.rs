//! Domain values and helpers that cases of more than one concern share:
//! packages as intake admits them, ledger entries, the audit log as the cases
//! read it, and the escalations and messages the scheduler would queue.

use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::domain::{
    default_ladder, Change, ClockStop, Deadline, DeadlinePolicy, DueLevel, LadderTiming, Lpas,
    OpenStage, Outcome, Package, PackageParts, PackageState, PolicyVersion, Reference,
    RegradePolicy, Relation, RiskGrade, Safeguarding, StopKind, Timescale, Timescales,
};
use ocset_scheduler::intake::{IntakeRules, NewPackage};
use ocset_scheduler::outbox::{
    DeliveryOutcome, Destination, Notice, NoticeItem, NoticeKind, OutboxDraft, OutboxMessage,
};
use ocset_scheduler::store::{
    Actor, AuditRecord, DueDecision, EscalationDraft, LedgerEntry, RecordedEscalation, Store,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub(super) fn policy() -> DeadlinePolicy {
    DeadlinePolicy::new(
        Timescales::default(),
        chrono_tz::Europe::London,
        RegradePolicy::FromReceipt,
        Some("national-2024"),
    )
    .unwrap()
}

pub(super) fn rules() -> IntakeRules {
    IntakeRules {
        policy: policy(),
        lpas: Lpas::new(&["Birmingham".into(), "Coventry".into(), "Solihull".into()]).unwrap(),
    }
}

pub(super) fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// The time the cases run at.
pub(super) fn now() -> DateTime<Utc> {
    at("2024-06-01T12:00:00Z")
}

pub(super) fn reference(text: &str) -> Reference {
    Reference::parse(text).unwrap()
}

/// A package admitted by intake; `received` is RFC 3339 or London time.
pub(super) fn admitted(
    reference: &str,
    grade: &str,
    received: &str,
    lpa: &str,
    stage: &str,
) -> Package {
    rules()
        .admit(
            &NewPackage {
                reference: reference.into(),
                risk_grade: grade.into(),
                received_at: received.into(),
                lpa: lpa.into(),
                stage: stage.into(),
                ..NewPackage::default()
            },
            now(),
        )
        .unwrap_or_else(|errors| panic!("{reference} was refused: {errors:?}"))
}

/// A standard-risk package in intelligence development, unassigned.
pub(super) fn plain(reference: &str) -> Package {
    admitted(
        reference,
        "standard",
        "2024-05-20 10:00",
        "Coventry",
        "intelligence_development",
    )
}

/// The entry that stores a new package.
pub(super) fn created(package: Package) -> LedgerEntry {
    LedgerEntry {
        event: package.created_event(),
        occurred_at: package.received_at(),
        next_due_at: Some(warning_at(&package)),
        due_soon_at: Some(warning_at(&package)),
        package,
        preceded_by: Vec::new(),
    }
}

/// The entry for a change, with the next due instant a caller would compute
/// and the default warning (75% of the timescale) as its due-soon instant.
pub(super) fn entry(change: Change, next_due_at: Option<DateTime<Utc>>) -> LedgerEntry {
    LedgerEntry {
        due_soon_at: Some(warning_at(&change.package)),
        package: change.package,
        occurred_at: change.occurred_at,
        event: change.event,
        next_due_at,
        preceded_by: Vec::new(),
    }
}

pub(super) async fn insert(store: &Arc<dyn Store>, packages: Vec<Package>) {
    let entries: Vec<LedgerEntry> = packages.into_iter().map(created).collect();
    store
        .insert_packages(&entries, &Actor::named("cli:test"), now())
        .await
        .expect("inserting packages");
}

pub(super) async fn migrated(store: &Arc<dyn Store>) {
    store.migrate().await.expect("migrating");
}

pub(super) async fn stored(store: &Arc<dyn Store>, text: &str) -> Package {
    store
        .package(&reference(text))
        .await
        .expect("reading a package")
        .unwrap_or_else(|| panic!("{text} is not stored"))
}

/// When 75% of the package's timescale has elapsed: the default warning.
pub(super) fn warning_at(
    package: &ocset_scheduler::domain::Package,
) -> chrono::DateTime<chrono::Utc> {
    let deadline = package.deadline();
    ocset_scheduler::domain::LevelTime::Percent(75).instant(
        deadline.clock_started_at(),
        deadline.at(),
        chrono_tz::Europe::London,
    )
}

/// An actor with a request id, as the API makes them.
pub(super) fn requester(name: &str, request_id: &str) -> Actor {
    Actor {
        name: name.into(),
        request_id: Some(request_id.into()),
    }
}

/// An audit line without its sequence number: (at, actor, action,
/// reference, request id, detail).
pub(super) type AuditLine = (
    DateTime<Utc>,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

pub(super) fn line(
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    reference: Option<&str>,
    request_id: Option<&str>,
    detail: Option<&str>,
) -> AuditLine {
    (
        at,
        actor.into(),
        action.into(),
        reference.map(String::from),
        request_id.map(String::from),
        detail.map(String::from),
    )
}

/// The lines of `log`, after checking they are in appending order.
pub(super) fn lines(log: &[AuditRecord]) -> Vec<AuditLine> {
    assert!(
        log.windows(2).all(|w| w[0].sequence < w[1].sequence),
        "not oldest first: {log:?}"
    );
    log.iter()
        .map(|r| {
            (
                r.at,
                r.actor.clone(),
                r.action.clone(),
                r.reference.clone(),
                r.request_id.clone(),
                r.detail.clone(),
            )
        })
        .collect()
}

pub(super) async fn audit_log(
    store: &Arc<dyn Store>,
    reference_text: Option<&str>,
) -> Vec<AuditLine> {
    let reference_value = reference_text.map(reference);
    lines(
        &store
            .audit_log(reference_value.as_ref())
            .await
            .expect("reading the audit log"),
    )
}

pub(super) fn sergeants() -> Destination {
    Destination::Email("ocset.sergeants@force.police.uk".into())
}

pub(super) fn inspector() -> Destination {
    Destination::Email("ocset.inspector@force.police.uk".into())
}

pub(super) fn webhook() -> Destination {
    Destination::Webhook("duty-desk".into())
}

/// A high-risk package received on 20 May: by [`now`] its deadline (27 May)
/// has passed, so the default ladder owes a breach repeat and has a
/// superseded warning.
pub(super) fn breached(reference: &str) -> Package {
    admitted(
        reference,
        "high",
        "2024-05-20 10:00",
        "Coventry",
        "awaiting_enforcement",
    )
}

/// Stores `packages`, each with the `next_due_at` given.
pub(super) async fn insert_due(
    store: &Arc<dyn Store>,
    packages: Vec<(Package, Option<DateTime<Utc>>)>,
) {
    let entries: Vec<LedgerEntry> = packages
        .into_iter()
        .map(|(package, next_due_at)| LedgerEntry {
            next_due_at,
            ..created(package)
        })
        .collect();
    store
        .insert_packages(&entries, &Actor::named("cli:test"), now())
        .await
        .expect("inserting packages");
}

/// The package's line in a notice, as the scheduler would write it.
pub(super) fn notice_item(package: &Package, due: &DueLevel) -> NoticeItem {
    NoticeItem {
        kind: match due.relation {
            Relation::Before => NoticeKind::DueSoon,
            Relation::At => NoticeKind::Breached,
            Relation::After => NoticeKind::LongOverdue,
        },
        level: due.level.clone(),
        occurrence: due.occurrence,
        reference: package.reference().to_string(),
        risk_grade: package.grade(),
        lpa: package.lpa().to_string(),
        stage: package.stage(),
        received_at: package.received_at(),
        deadline_at: package.deadline().at(),
        referral_due_at: None,
        review_due_at: None,
        assigned_officer: package.assigned_officer().map(ToString::to_string),
        link: None,
    }
}

/// Plans each package as the scheduler does, with the default ladder at
/// `at`, every level going to `destinations`.
pub(super) fn ladder_plan(
    at: DateTime<Utc>,
    destinations: Vec<Destination>,
) -> impl Fn(&Package) -> DueDecision + Send + Sync {
    // The store's behaviour, not the ladder's: the review level would only
    // add escalations to every count.
    let levels: Vec<_> = default_ladder()
        .into_iter()
        .filter(|level| level.clock() != ocset_scheduler::domain::PackageClock::Review)
        .collect();
    move |package: &Package| {
        let timing = LadderTiming {
            levels: &levels,
            time_zone: chrono_tz::Europe::London,
            referral_within: Timescale::Hours(24),
            review_every: Default::default(),
        };
        let owed = timing.plan(package, at);
        DueDecision {
            escalations: owed
                .due
                .into_iter()
                .map(|due| EscalationDraft {
                    item: notice_item(package, &due),
                    due,
                    destinations: destinations.clone(),
                })
                .collect(),
            next_due_at: owed.next_due_at,
        }
    }
}

/// A plan that owes nothing and looks again at `next`.
pub(super) fn nothing_until(
    next: Option<DateTime<Utc>>,
) -> impl Fn(&Package) -> DueDecision + Send + Sync {
    move |_: &Package| DueDecision {
        escalations: Vec::new(),
        next_due_at: next,
    }
}

pub(super) fn notice(marking: &str, items: Vec<NoticeItem>) -> Notice {
    Notice {
        marking: marking.into(),
        force: "Example Police".into(),
        time_zone: chrono_tz::Europe::London,
        as_of: now(),
        items,
    }
}

/// Groups escalations into one message per destination, as the scheduler
/// does, and keeps what it was given.
#[derive(Debug, Clone, Default)]
pub(super) struct ByDestination {
    given: Arc<Mutex<Vec<Vec<RecordedEscalation>>>>,
}

impl ByDestination {
    pub(super) fn compose(
        &self,
    ) -> impl Fn(Vec<RecordedEscalation>) -> Vec<OutboxDraft> + Send + Sync {
        let given = self.given.clone();
        move |recorded: Vec<RecordedEscalation>| {
            given.lock().unwrap().push(recorded.clone());
            let mut groups: BTreeMap<Destination, (Vec<NoticeItem>, Vec<i64>)> = BTreeMap::new();
            for escalation in recorded {
                for destination in &escalation.destinations {
                    let group = groups.entry(destination.clone()).or_default();
                    group.0.push(escalation.item.clone());
                    group.1.push(escalation.id);
                }
            }
            groups
                .into_iter()
                .map(|(destination, (items, escalation_ids))| OutboxDraft {
                    destination,
                    notice: notice("OFFICIAL-SENSITIVE", items),
                    escalation_ids,
                })
                .collect()
        }
    }

    /// What each pass gave it.
    pub(super) fn given(&self) -> Vec<Vec<RecordedEscalation>> {
        self.given.lock().unwrap().clone()
    }
}

/// Queues one message per destination, in order, through a pass at `at`
/// (with nothing due); each notice's marking is its label, so a claim can
/// be told apart by it.
pub(super) async fn queue(
    store: &Arc<dyn Store>,
    at: DateTime<Utc>,
    messages: &[(&str, Destination)],
) {
    let drafts: Vec<OutboxDraft> = messages
        .iter()
        .map(|(label, destination)| OutboxDraft {
            destination: destination.clone(),
            notice: notice(label, Vec::new()),
            escalation_ids: Vec::new(),
        })
        .collect();
    let report = store
        .escalation_pass(at, 10, &nothing_until(None), &move |_| drafts.clone())
        .await
        .expect("queueing messages");
    assert_eq!(report.messages, messages.len());
}

/// How long a claim holds a message in these cases: longer than any of
/// them runs in its own time, but for the case about leases.
pub(super) fn lease() -> Duration {
    Duration::hours(1)
}

pub(super) async fn claim(
    store: &Arc<dyn Store>,
    at: DateTime<Utc>,
    worker: &str,
) -> Vec<OutboxMessage> {
    store
        .claim_outbox(at, worker, lease(), 10)
        .await
        .expect("claiming messages")
}

pub(super) async fn finish(
    store: &Arc<dyn Store>,
    message: &OutboxMessage,
    worker: &str,
    outcome: DeliveryOutcome,
    at: DateTime<Utc>,
) -> bool {
    store
        .finish_delivery(message.id, worker, &outcome, at)
        .await
        .expect("finishing a delivery")
}

/// Where a [`shaped`] package is: open in a queue, or stopped at an instant.
#[derive(Debug, Clone, Copy)]
pub(super) enum Shape {
    Open(OpenStage),
    Enforced(DateTime<Utc>),
    Closed(DateTime<Utc>),
}

pub(super) const DEVELOPING: Shape = Shape::Open(OpenStage::IntelligenceDevelopment);
pub(super) const AWAITING: Shape = Shape::Open(OpenStage::AwaitingEnforcement);

/// A package with exactly this deadline, built from parts (intake would
/// compute the deadline itself), so a case can put it anywhere in time.
pub(super) fn shaped(
    text: &str,
    grade: RiskGrade,
    lpa: &str,
    received_at: DateTime<Utc>,
    deadline_at: DateTime<Utc>,
    shape: Shape,
) -> Package {
    let state = match shape {
        Shape::Open(stage) => PackageState::Open {
            stage,
            since: received_at,
        },
        Shape::Enforced(stopped_at) => PackageState::Stopped(
            ClockStop::new(StopKind::Enforced, stopped_at, Outcome::Arrest).unwrap(),
        ),
        Shape::Closed(stopped_at) => PackageState::Stopped(
            ClockStop::new(StopKind::Closed, stopped_at, Outcome::NoFurtherAction).unwrap(),
        ),
    };
    Package::from_parts(PackageParts {
        reference: reference(text),
        received_at,
        lpa: Lpas::restore(lpa.into()),
        assigned_officer: None,
        deadline: Deadline::restore(
            grade,
            deadline_at,
            received_at,
            PolicyVersion::new("national-2024"),
        ),
        state,
        safeguarding: Safeguarding::default(),
        acknowledgement: None,
        review_clock_started_at: None,
    })
}
