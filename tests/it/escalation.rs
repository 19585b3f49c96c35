//! End-to-end tests of escalation: the real scheduler and dispatcher over a
//! real database (SQLite and PostgreSQL), delivering by real SMTP to a
//! server that receives over TCP, with a clock the test controls so that
//! weeks pass in milliseconds. Each step runs a scheduler pass and a
//! dispatcher drain at the clock's "now", as the service loop does when it
//! wakes.

use crate::common;
use crate::common::parts::{instance, Instance, World};
use crate::common::smtp::{fixed_widths, parse_mail, ParsedMail};
use crate::common::utc;
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::domain::{Outcome, Reference, RiskGrade, Stage};
use ocset_scheduler::intake::NewPackage;
use ocset_scheduler::outbox::{Deliver, NoticeKind};
use ocset_scheduler::service;
use ocset_scheduler::store::Actor;

const SERGEANTS: &str = "ocset.sergeants@force.example";
const BIRMINGHAM_SERGEANTS: &str = "birmingham.ocset.sergeants@force.example";
const INSPECTOR: &str = "ocset.inspector@force.example";
const SLT: &str = "ppu.slt@force.example";
const OFFICER: &str = "pc.one@force.police.uk";

/// A Monday in January: GMT, so local and UTC times agree.
fn start() -> DateTime<Utc> {
    utc("2024-01-08T09:00:00Z")
}

async fn world(url: String) -> World {
    World::start(url, start()).await
}

impl Instance {
    /// What the service does when it wakes: a pass, then deliver.
    async fn step(&self) {
        self.scheduler.run_due().await.unwrap();
        self.dispatcher.drain().await.unwrap();
    }

    async fn create(
        &self,
        reference: &str,
        grade: RiskGrade,
        received: DateTime<Utc>,
        lpa: &str,
        officer: Option<&str>,
    ) {
        let input = NewPackage {
            reference: reference.into(),
            risk_grade: grade.as_str().into(),
            received_at: received.to_rfc3339(),
            lpa: lpa.into(),
            stage: "awaiting_enforcement".into(),
            assigned_officer: officer.map(str::to_string),
            ..NewPackage::default()
        };
        self.app
            .create(&input, &Actor::named("test"))
            .await
            .unwrap();
    }
}

impl World {
    /// Moves the clock to each instant there is work, up to `until`,
    /// stepping at each.
    async fn run_until(&self, until: DateTime<Utc>) {
        self.instance.step().await;
        while let Some(next) = self.instance.app.store().next_wake().await.unwrap() {
            if next > until {
                break;
            }
            self.clock.set(next.max(self.clock_now()));
            self.instance.step().await;
        }
        self.clock.set(until);
        self.instance.step().await;
    }

    fn clock_now(&self) -> DateTime<Utc> {
        ocset_scheduler::clock::Clock::now(&self.clock)
    }
}

on_both_backends!(
    world;
    a_very_high_package_lives_its_whole_life,
    every_grade_warns_then_breaches_at_the_right_instants,
    acknowledgement_stops_repeats_and_enforcement_stops_everything,
    a_regrade_up_makes_levels_due_at_once_and_down_defers_them,
    a_restart_between_queueing_and_sending_loses_nothing,
    a_crash_between_sending_and_marking_sends_that_one_message_again,
    mail_server_down_then_up_delivers_everything_in_order,
    fifty_packages_due_during_downtime_make_one_message_per_recipient,
    passes_while_a_message_waits_add_to_it_instead_of_queueing_more,
    a_rejected_address_is_dead_at_once_and_counted,
    every_escalation_email_says_what_to_do_and_fits_a_phone,
    a_corrupt_package_is_set_aside_and_every_other_one_is_escalated,
);

/// The subject's words after the marking.
fn summary(mail: &ParsedMail) -> String {
    mail.subject
        .trim_start_matches("[OFFICIAL-SENSITIVE] OCSET: ")
        .to_string()
}

async fn a_very_high_package_lives_its_whole_life(w: World) {
    w.instance
        .create(
            "VH-1",
            RiskGrade::VeryHigh,
            start(),
            "Coventry",
            Some(OFFICER),
        )
        .await;
    w.run_until(start() + Duration::days(11)).await;

    // The assigned officer hears of the warning only.
    let officer = w.mail_to(OFFICER);
    assert_eq!(officer.len(), 1);
    assert_eq!(
        officer[0].subject,
        "[OFFICIAL-SENSITIVE] OCSET: 1 package is approaching its enforcement deadline"
    );
    // Sergeants: the warning at 36 hours, the breach at 48, then daily.
    let sergeants = w.mail_to(SERGEANTS);
    let subjects: Vec<String> = sergeants.iter().map(summary).collect();
    assert_eq!(
        subjects[0],
        "1 package is approaching its enforcement deadline"
    );
    assert!(
        subjects[1..]
            .iter()
            .all(|s| s == "1 package breached its enforcement deadline"),
        "{subjects:?}"
    );
    assert_eq!(
        sergeants.len(),
        1 + 1 + 9,
        "warning, breach, nine daily repeats to day 11"
    );
    // The inspector: the breach and its repeats; SLT: the senior level once.
    assert_eq!(w.mail_to(INSPECTOR).len(), 10);
    let slt = w.mail_to(SLT);
    assert_eq!(slt.len(), 1);
    assert_eq!(
        slt[0].subject,
        "[OFFICIAL-SENSITIVE] OCSET: 1 package is well past its enforcement deadline"
    );
    // Each message carries the package line and nothing more.
    let first = &sergeants[1];
    for expected in [
        "VH-1",
        "Very high",
        "Coventry",
        "Awaiting enforcement",
        "2024-01-08 09:00 GMT",
        "2024-01-10 09:00 GMT",
        OFFICER,
        "https://case-system.example/packages/VH-1",
        "OFFICIAL-SENSITIVE",
    ] {
        assert!(
            first.text.contains(expected),
            "{expected:?} missing from:\n{}",
            first.text
        );
        assert!(
            first.html.contains(expected),
            "{expected:?} missing from the HTML"
        );
    }
    // The escalations are recorded once each, with their deliveries.
    let record = w
        .instance
        .app
        .read(&Reference::parse("VH-1").unwrap(), &Actor::named("test"))
        .await
        .unwrap()
        .unwrap();
    let levels: Vec<(String, u32)> = record
        .escalations
        .iter()
        .map(|e| (e.level.clone(), e.occurrence))
        .collect();
    assert_eq!(levels.iter().filter(|(l, _)| l == "breach").count(), 10);
    assert_eq!(levels.iter().filter(|(l, _)| l == "senior").count(), 1);
    assert!(record
        .escalations
        .iter()
        .all(|e| e.deliveries.iter().all(|d| d.status == "sent")));
    let breach = record
        .escalations
        .iter()
        .find(|e| e.level == "breach")
        .unwrap();
    assert_eq!(breach.due_at, utc("2024-01-10T09:00:00Z"));
    assert_eq!(breach.deliveries.len(), 2, "sergeants and inspector");
}

async fn every_grade_warns_then_breaches_at_the_right_instants(w: World) {
    let cases = [
        (
            RiskGrade::High,
            "2024-01-13T15:00:00Z",
            "2024-01-15T09:00:00Z",
        ),
        (
            RiskGrade::Medium,
            "2024-01-24T03:00:00Z",
            "2024-01-29T09:00:00Z",
        ),
        (
            RiskGrade::Standard,
            "2024-02-22T09:00:00Z",
            "2024-03-08T09:00:00Z",
        ),
    ];
    for (grade, _, _) in cases {
        w.instance
            .create(&format!("PKG-{grade}"), grade, start(), "Dudley", None)
            .await;
    }
    for (grade, warning, breach) in cases {
        let reference = format!("PKG-{grade}");
        let about = |w: &World| -> Vec<ParsedMail> {
            w.mail_to(SERGEANTS)
                .into_iter()
                .filter(|m| m.text.contains(&reference))
                .collect()
        };
        w.run_until(utc(warning) - Duration::seconds(1)).await;
        assert!(about(&w).is_empty(), "{grade}: nothing before the warning");
        w.run_until(utc(warning)).await;
        let mail = about(&w);
        assert_eq!(mail.len(), 1, "{grade}: the warning at {warning}");
        assert!(
            mail[0].subject.contains("approaching"),
            "{}",
            mail[0].subject
        );
        w.run_until(utc(breach) - Duration::seconds(1)).await;
        assert_eq!(
            about(&w).len(),
            1,
            "{grade}: nothing between warning and breach"
        );
        w.run_until(utc(breach)).await;
        let mail = about(&w);
        assert_eq!(mail.len(), 2, "{grade}: the breach at {breach}");
        assert!(mail[1].subject.contains("breached"), "{}", mail[1].subject);
    }
}

async fn acknowledgement_stops_repeats_and_enforcement_stops_everything(w: World) {
    w.instance
        .create("VH-ACK", RiskGrade::VeryHigh, start(), "Walsall", None)
        .await;
    w.instance
        .create("VH-END", RiskGrade::VeryHigh, start(), "Walsall", None)
        .await;
    w.run_until(start() + Duration::hours(49)).await; // both breached at 48h
    let by_reference = |w: &World, reference: &str| {
        w.mail_to(INSPECTOR)
            .iter()
            .filter(|m| m.text.contains(reference))
            .count()
    };
    assert_eq!(
        (by_reference(&w, "VH-ACK"), by_reference(&w, "VH-END")),
        (1, 1)
    );
    let app = &w.instance.app;
    app.change(
        &Reference::parse("VH-ACK").unwrap(),
        &Actor::named("token:sgt"),
        |p, now| {
            p.acknowledge(
                &ocset_scheduler::domain::BreachReasons::default()
                    .parse("resourcing")
                    .unwrap(),
                "warrant sought",
                "token:sgt",
                now,
            )
        },
    )
    .await
    .unwrap();
    app.change(
        &Reference::parse("VH-END").unwrap(),
        &Actor::named("token:sgt"),
        |p, now| p.move_stage(Stage::Enforced, now, Some(Outcome::Arrest), None, now),
    )
    .await
    .unwrap();
    w.run_until(start() + Duration::days(12)).await;
    // No more repeats for either; the senior level still fires for the
    // acknowledged (still open) one, and not for the enforced one.
    assert_eq!(
        (by_reference(&w, "VH-ACK"), by_reference(&w, "VH-END")),
        (1, 1)
    );
    let slt = w.mail_to(SLT);
    assert_eq!(slt.len(), 1);
    assert!(slt[0].text.contains("VH-ACK") && !slt[0].text.contains("VH-END"));
}

async fn a_regrade_up_makes_levels_due_at_once_and_down_defers_them(w: World) {
    w.instance
        .create("PKG-UP", RiskGrade::Standard, start(), "Sandwell", None)
        .await;
    w.run_until(start() + Duration::days(10)).await;
    assert!(
        w.mail_to(SERGEANTS).is_empty(),
        "nothing due in 10 days of 60"
    );
    let policy = w.settings.policy.clone();
    w.instance
        .app
        .change(
            &Reference::parse("PKG-UP").unwrap(),
            &Actor::named("test"),
            move |p, now| p.regrade(RiskGrade::High, "new intel", now, now, &policy),
        )
        .await
        .unwrap();
    w.instance.step().await;
    let sergeants = w.mail_to(SERGEANTS);
    assert_eq!(
        sergeants.len(),
        1,
        "the breach at once; the warning superseded, not sent"
    );
    assert_eq!(
        sergeants[0].subject,
        "[OFFICIAL-SENSITIVE] OCSET: 1 package breached its enforcement deadline"
    );
    let policy = w.settings.policy.clone();
    w.instance
        .app
        .change(
            &Reference::parse("PKG-UP").unwrap(),
            &Actor::named("test"),
            move |p, now| p.regrade(RiskGrade::Standard, "reassessed", now, now, &policy),
        )
        .await
        .unwrap();
    w.run_until(start() + Duration::days(44)).await;
    assert_eq!(
        w.mail_to(SERGEANTS).len(),
        1,
        "nothing until 75% of the standard timescale"
    );
    w.run_until(start() + Duration::days(45)).await;
    assert_eq!(w.mail_to(SERGEANTS).len(), 2);
}

async fn a_restart_between_queueing_and_sending_loses_nothing(w: World) {
    w.instance
        .create(
            "CU-1",
            RiskGrade::VeryHigh,
            start() - Duration::days(3),
            "Dudley",
            None,
        )
        .await;
    // The pass queues the messages; the service dies before sending.
    w.instance.scheduler.run_due().await.unwrap();
    assert!(w.smtp.messages().is_empty());
    drop(w.instance);
    let restarted = instance(w.settings.clone(), &w.url, &w.clock, "worker-b").await;
    restarted.step().await;
    // Different recipients' messages go out concurrently: compare as sets.
    let mut to: Vec<String> = w.smtp.messages().iter().map(|m| m.to.join(",")).collect();
    to.sort();
    assert_eq!(to, [INSPECTOR, SERGEANTS], "one message each, nothing lost");
    restarted.step().await;
    assert_eq!(w.smtp.messages().len(), 2, "nothing sent twice");
}

async fn a_crash_between_sending_and_marking_sends_that_one_message_again(w: World) {
    w.instance
        .create(
            "CU-2",
            RiskGrade::VeryHigh,
            start() - Duration::days(3),
            "Dudley",
            None,
        )
        .await;
    w.instance.scheduler.run_due().await.unwrap();
    let store = w.instance.app.store().clone();
    // A dispatcher claims both messages, sends the first, and dies before
    // recording it.
    let claimed = store
        .claim_outbox(start(), "doomed", Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let notifier = service::notifier(&w.settings).unwrap();
    notifier
        .deliver(&claimed[0].destination, &claimed[0].payload)
        .await
        .unwrap();
    drop(w.instance);
    // Before the lease runs out nobody takes them over.
    let restarted = instance(w.settings.clone(), &w.url, &w.clock, "worker-b").await;
    restarted.step().await;
    assert_eq!(w.smtp.messages().len(), 1);
    w.clock.advance(Duration::minutes(5));
    restarted.step().await;
    // Different recipients' messages go out concurrently: compare as sets.
    let mut to: Vec<String> = w.smtp.messages().iter().map(|m| m.to.join(",")).collect();
    to.sort();
    assert_eq!(
        to,
        [INSPECTOR, INSPECTOR, SERGEANTS],
        "the message on the wire at the crash goes again; nothing else twice"
    );
    let record = restarted
        .app
        .read(&Reference::parse("CU-2").unwrap(), &Actor::named("test"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.escalations.len(),
        2,
        "warning (superseded) and breach recorded once"
    );
}

async fn mail_server_down_then_up_delivers_everything_in_order(mut w: World) {
    w.smtp.stop().await;
    w.instance
        .create(
            "PKG-A",
            RiskGrade::VeryHigh,
            start() - Duration::hours(49),
            "Dudley",
            None,
        )
        .await;
    w.instance.step().await; // queued for sergeants and inspector; both fail
    w.clock.advance(Duration::hours(1));
    w.instance
        .create(
            "PKG-B",
            RiskGrade::VeryHigh,
            start() - Duration::hours(48),
            "Dudley",
            None,
        )
        .await;
    w.instance.step().await; // a second message each, behind the first
    let stats = w.instance.app.store().delivery_stats().await.unwrap();
    assert_eq!((stats.pending, stats.sent, stats.dead), (4, 0, 0));
    assert!(stats.retries >= 2, "{stats:?}");
    // Retries back off while the server is down.
    for _ in 0..3 {
        w.clock.advance(Duration::minutes(10));
        w.instance.step().await;
    }
    let stats = w.instance.app.store().delivery_stats().await.unwrap();
    assert_eq!(stats.sent, 0);
    assert!(stats.retries >= 5, "retries are counted: {stats:?}");
    w.smtp.restart().await;
    w.clock.advance(Duration::hours(2));
    w.instance.step().await;
    let sergeants = w.mail_to(SERGEANTS);
    assert_eq!(sergeants.len(), 2);
    assert!(
        sergeants[0].text.contains("PKG-A") && sergeants[1].text.contains("PKG-B"),
        "in order"
    );
    assert!(summary(&sergeants[0]).contains("breached"));
    let stats = w.instance.app.store().delivery_stats().await.unwrap();
    assert_eq!((stats.pending, stats.sent, stats.dead), (0, 4, 0));
}

async fn fifty_packages_due_during_downtime_make_one_message_per_recipient(w: World) {
    for i in 0..50 {
        let lpa = if i % 2 == 0 { "Birmingham" } else { "Coventry" };
        w.instance
            .create(
                &format!("PKG-{i:02}"),
                RiskGrade::High,
                start() - Duration::minutes(50 - i),
                lpa,
                None,
            )
            .await;
    }
    // Down for two weeks: every deadline, and some repeats, pass unseen.
    w.clock.set(start() + Duration::days(9));
    w.instance.step().await;
    let mut mail = w.mail();
    mail.sort_by(|a, b| a.0.cmp(&b.0));
    let recipients: Vec<&str> = mail.iter().map(|(to, _)| to.as_str()).collect();
    assert_eq!(
        recipients,
        [BIRMINGHAM_SERGEANTS, INSPECTOR, SERGEANTS],
        "one message per recipient"
    );
    let inspector = &mail[1].1;
    assert_eq!(
        inspector.subject,
        "[OFFICIAL-SENSITIVE] OCSET: 50 packages breached their enforcement deadline"
    );
    let positions: Vec<usize> = (0..50)
        .map(|i| {
            inspector
                .text
                .find(&format!("PKG-{i:02}"))
                .expect("every package listed")
        })
        .collect();
    assert!(
        positions.windows(2).all(|p| p[0] < p[1]),
        "most overdue first"
    );
    assert!(mail[0].1.subject.contains("25 packages") && mail[2].1.subject.contains("25 packages"));
    // Nothing more until the next repeat.
    w.instance.step().await;
    assert_eq!(w.smtp.messages().len(), 3);
}

/// A live burst: packages fall due a minute apart while the dispatcher is
/// still busy. Each pass adds its packages to the message already waiting
/// for the recipient, so the burst reaches each recipient as one message.
async fn passes_while_a_message_waits_add_to_it_instead_of_queueing_more(w: World) {
    for i in 0..20 {
        w.instance
            .create(
                &format!("PKG-{i:02}"),
                RiskGrade::VeryHigh,
                start() - Duration::hours(48) + Duration::minutes(i),
                "Dudley",
                None,
            )
            .await;
    }
    // PKG-00 falls due now and goes out at once (with the others' warnings).
    w.instance.step().await;
    assert_eq!(w.mail_to(SERGEANTS).len(), 1);
    // A pass a minute for the next 19 minutes, the dispatcher not running.
    for minute in 1..20 {
        w.clock.set(start() + Duration::minutes(minute));
        let report = w.instance.scheduler.run_due().await.unwrap();
        assert_eq!(report.packages, 1, "minute {minute}");
    }
    let stats = w.instance.app.store().delivery_stats().await.unwrap();
    assert_eq!(
        stats.pending, 2,
        "one waiting message each for sergeants and inspector"
    );
    w.instance.dispatcher.drain().await.unwrap();
    let sergeants = w.mail_to(SERGEANTS);
    assert_eq!(sergeants.len(), 2);
    assert_eq!(
        sergeants[1].subject,
        "[OFFICIAL-SENSITIVE] OCSET: 19 packages breached their enforcement deadline"
    );
    let positions: Vec<usize> = (1..20)
        .map(|i| {
            sergeants[1]
                .text
                .find(&format!("PKG-{i:02}"))
                .expect("every package of the burst listed")
        })
        .collect();
    assert!(
        positions.windows(2).all(|p| p[0] < p[1]),
        "most overdue first"
    );
    assert!(!sergeants[1].text.contains("PKG-00"), "sent before");
    assert_eq!(w.mail_to(INSPECTOR).len(), 2);
    // Each package's escalation shows the message that carried it, sent.
    let store = w.instance.app.store();
    let first = store
        .escalations(&Reference::parse("PKG-01").unwrap())
        .await
        .unwrap();
    let last = store
        .escalations(&Reference::parse("PKG-19").unwrap())
        .await
        .unwrap();
    let deliveries = |records: &[ocset_scheduler::store::EscalationRecord]| {
        let breach = records.iter().find(|r| r.level == "breach").unwrap();
        let mut ids: Vec<(i64, String)> = breach
            .deliveries
            .iter()
            .map(|d| (d.message_id, d.status.clone()))
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(deliveries(&first), deliveries(&last));
    assert!(deliveries(&first)
        .iter()
        .all(|(_, status)| status == "sent"));
    assert_eq!(deliveries(&first).len(), 2, "sergeants and inspector");
}

async fn a_rejected_address_is_dead_at_once_and_counted(w: World) {
    w.smtp.reject(INSPECTOR);
    w.instance
        .create(
            "PKG-R",
            RiskGrade::VeryHigh,
            start() - Duration::days(3),
            "Dudley",
            None,
        )
        .await;
    w.instance.step().await;
    let stats = w.instance.app.store().delivery_stats().await.unwrap();
    assert_eq!(
        (stats.sent, stats.dead, stats.pending),
        (1, 1, 0),
        "sergeants got theirs; the rejected one is not retried"
    );
    let figures = w.instance.app.scheduler_figures().await.unwrap();
    assert_eq!(figures.dead, 1);
    assert_eq!(figures.due_not_delivered, 0);
    assert_eq!(figures.last_pass_at, Some(start()));
}

/// Two instances on one PostgreSQL database, stepping at once through a
/// fortnight: every escalation is sent exactly once.
#[tokio::test]
async fn postgres_two_instances_send_each_escalation_exactly_once() {
    common::with_postgres(|url| async move {
        let w = world(url.clone()).await;
        let second = instance(w.settings.clone(), &url, &w.clock, "worker-b").await;
        for i in 0..20 {
            w.instance
                .create(
                    &format!("PKG-{i:02}"),
                    if i % 2 == 0 {
                        RiskGrade::VeryHigh
                    } else {
                        RiskGrade::High
                    },
                    start() - Duration::hours(20 - i),
                    "Solihull",
                    None,
                )
                .await;
        }
        let mut now = start();
        while now < start() + Duration::days(14) {
            now += Duration::hours(6);
            w.clock.set(now);
            tokio::join!(w.instance.step(), second.step());
        }
        // Every (recipient, package, level occurrence) once: compare the
        // messages with the recorded escalations' deliveries.
        let mut expected = 0;
        for i in 0..20 {
            let record = w
                .instance
                .app
                .read(
                    &Reference::parse(&format!("PKG-{i:02}")).unwrap(),
                    &Actor::named("test"),
                )
                .await
                .unwrap()
                .unwrap();
            for escalation in &record.escalations {
                let per = escalation.deliveries.len();
                assert!(escalation.status != "notified" || per > 0);
                assert!(escalation.deliveries.iter().all(|d| d.status == "sent"));
                expected += per;
            }
        }
        let lines: usize = w
            .smtp
            .messages()
            .iter()
            .map(|m| {
                let text = parse_mail(&m.data).text;
                (0..20)
                    .filter(|i| text.contains(&format!("PKG-{i:02}")))
                    .count()
            })
            .sum();
        assert!(expected > 0);
        assert_eq!(
            lines, expected,
            "each escalation's line reached each recipient exactly once"
        );
    })
    .await;
}

/// Each level's email says what its reader should do, under the heading of
/// the packages it is about; every email is marked as sent by a machine
/// and has no fixed width a 420 px phone screen would scroll sideways for.
async fn every_escalation_email_says_what_to_do_and_fits_a_phone(w: World) {
    // Very high (48 hours), access to a child identified at receipt and no
    // referral: safeguarding at 24 hours, the warning at 36, the breach at
    // 48 (then daily), the senior level 7 days after the deadline.
    let input = NewPackage {
        reference: "VH-SG".into(),
        risk_grade: RiskGrade::VeryHigh.as_str().into(),
        received_at: start().to_rfc3339(),
        lpa: "Coventry".into(),
        stage: "awaiting_enforcement".into(),
        child_access_identified_at: Some(start().to_rfc3339()),
        ..NewPackage::default()
    };
    w.instance
        .app
        .create(&input, &Actor::named("test"))
        .await
        .unwrap();
    w.run_until(start() + Duration::days(10)).await;

    let texts = |address: &str| -> Vec<String> {
        w.mail_to(address)
            .iter()
            .map(|m| m.text.replace("\r\n", "\n"))
            .collect()
    };
    let says = |texts: &[String], kind: NoticeKind| {
        let expected = format!("{}\n{}\n", kind.describe(1), kind.action());
        assert!(
            texts.iter().any(|t| t.contains(&expected)),
            "{expected:?} in none of {texts:#?}"
        );
    };
    let sergeants = texts(SERGEANTS);
    says(&sergeants, NoticeKind::DueSoon);
    says(&sergeants, NoticeKind::Breached);
    says(&sergeants, NoticeKind::SafeguardingOverdue);
    says(&texts(SLT), NoticeKind::LongOverdue);
    // The sentences themselves, per level, as a reader sees them.
    let all = sergeants.join("\n") + &texts(SLT).join("\n");
    for sentence in [
        "Plan the enforcement before the deadline, and assign an officer",
        "Enforce now, or acknowledge the breach with a note",
        "Review the breach",
        "Make the referral to children's social services now",
    ] {
        assert!(all.contains(sentence), "{sentence:?}");
    }

    let received = w.smtp.messages();
    assert!(received.len() >= 4, "{}", received.len());
    for raw in &received {
        let mail = parse_mail(&raw.data);
        assert_eq!(
            mail.auto_submitted.as_deref(),
            Some("auto-generated"),
            "{}",
            mail.subject
        );
        let widths = fixed_widths(&mail.html);
        assert!(
            widths.iter().all(|w| *w <= 420),
            "{widths:?} in {}",
            mail.html
        );
        assert!(mail.html.contains("max-width:100%"), "{}", mail.html);
        assert!(mail
            .html
            .contains("href=\"https://case-system.example/packages/VH-SG\""));
        // Every action sentence sits right under its heading in the HTML.
        let html = mail.html.replace("\r\n", "\n");
        for kind in [
            NoticeKind::SafeguardingOverdue,
            NoticeKind::LongOverdue,
            NoticeKind::Breached,
            NoticeKind::DueSoon,
        ] {
            if html.contains(&format!(">{}</h2>", kind.describe(1))) {
                let action = kind.action().replace('\'', "&#39;");
                assert!(
                    html.contains(&format!(
                        ">{}</h2>\n<p style=\"margin:0 0 10px 0;font-weight:bold;\">{action}</p>",
                        kind.describe(1)
                    )),
                    "{html}"
                );
            }
        }
    }
}

/// Runs `sql` on the database at `url`, as a bug or an attacker would.
async fn corrupt(url: &str, sql: &str) {
    let done = if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(sql)
            .execute(&pool)
            .await
            .map(|r| r.rows_affected())
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sql)
            .execute(&pool)
            .await
            .map(|r| r.rows_affected())
    };
    assert_eq!(done.unwrap(), 1, "{sql}");
}

/// Issue 16, part 4: one package's row holds a value the code no longer
/// accepts. The pass sets it aside (logged once) and escalates every other
/// package by real SMTP; the status and /metrics count it, and
/// `quarantine list` shows it.
async fn a_corrupt_package_is_set_aside_and_every_other_one_is_escalated(w: World) {
    let i = &w.instance;
    for reference in ["QBAD-1", "QGOOD-1", "QGOOD-2"] {
        i.create(
            reference,
            RiskGrade::VeryHigh,
            start() - Duration::hours(1),
            "Coventry",
            Some(OFFICER),
        )
        .await;
    }
    corrupt(
        &w.url,
        "UPDATE packages SET assigned_officer = 'not an address' WHERE reference = 'QBAD-1'",
    )
    .await;
    w.run_until(start() + Duration::days(3)).await;
    let to_sergeants: String = w
        .mail_to(SERGEANTS)
        .iter()
        .map(|m| m.text.clone())
        .collect();
    assert!(
        to_sergeants.contains("QGOOD-1") && to_sergeants.contains("QGOOD-2"),
        "{to_sergeants}"
    );
    assert!(!to_sergeants.contains("QBAD-1"), "{to_sergeants}");

    // The status and /metrics count it, over real HTTP.
    let (token, hash) = ocset_scheduler::tokens::generate();
    i.app
        .store()
        .create_token(
            &ocset_scheduler::store::ApiToken {
                name: "viewer".into(),
                role: ocset_scheduler::domain::Role::Viewer,
                created_at: start(),
                revoked_at: None,
            },
            &hash,
            &Actor::named("test"),
        )
        .await
        .unwrap();
    let api = ocset_scheduler::http::ApiServer::build(i.app.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", api.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(api.run_until(async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let status: serde_json::Value = http
        .get(format!("{base}/api/v1/status"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        status["quarantined"],
        serde_json::json!({"packages": 1, "messages": 0}),
        "{status}"
    );
    let metrics = http
        .get(format!("{base}/metrics"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ocset_quarantined_rows{kind=\"package\"} 1"),
        "{metrics}"
    );
    let _ = stop.send(());

    // `quarantine list` names it and why.
    let mut out = Vec::new();
    ocset_scheduler::cli::run(
        ocset_scheduler::cli::Command::Quarantine(ocset_scheduler::cli::QuarantineAction::List),
        (*w.settings).clone(),
        std::sync::Arc::new(w.clock.clone()),
        &mut out,
        async {},
    )
    .await
    .unwrap();
    let listed = String::from_utf8(out).unwrap();
    assert!(
        listed.contains(" package ")
            && listed.contains(" QBAD-1 ")
            && listed.contains("assigned_officer")
            && listed.ends_with("1 row(s) set aside\n"),
        "{listed}"
    );
}
