//! End-to-end tests of the digests: the real digest job and dispatcher over
//! a real database (SQLite and PostgreSQL), delivering by real SMTP to a
//! server that receives over TCP, with a clock the test controls. The
//! shipped configuration schedules the weekly digest on Mondays at 07:00
//! Europe/London (to ppu_slt and acc_crime) and a daily one at 08:00 (to
//! the OCSET sergeants, Birmingham's separately).

use crate::common;
use crate::common::parts::{instance, World};
use crate::common::utc;
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::domain::RiskGrade;
use ocset_scheduler::intake::NewPackage;
use ocset_scheduler::store::Actor;

const SLT: &str = "ppu.slt@force.example";
const ACC: &str = "acc.crime.office@force.example";
const SERGEANTS: &str = "ocset.sergeants@force.example";
const BIRMINGHAM_SERGEANTS: &str = "birmingham.ocset.sergeants@force.example";

/// A ledger with packages in Birmingham and Coventry, one of them breached
/// early in March 2024 (the clock starts on Friday 1 March 2024).
async fn world(url: String) -> World {
    seeded(World::start(url, utc("2024-03-01T09:00:00Z")).await).await
}

/// `w` with the three packages of [`world`].
async fn seeded(w: World) -> World {
    for (reference, grade, lpa, received) in [
        (
            "BHM-1",
            RiskGrade::VeryHigh,
            "Birmingham",
            "2024-02-28T09:00:00Z",
        ),
        (
            "BHM-2",
            RiskGrade::Medium,
            "Birmingham",
            "2024-02-20T09:00:00Z",
        ),
        ("COV-1", RiskGrade::High, "Coventry", "2024-02-27T09:00:00Z"),
    ] {
        let input = NewPackage {
            reference: reference.into(),
            risk_grade: grade.as_str().into(),
            received_at: received.into(),
            lpa: lpa.into(),
            stage: "awaiting_enforcement".into(),
            ..NewPackage::default()
        };
        w.instance
            .app
            .create(&input, &Actor::named("test"))
            .await
            .unwrap();
    }
    w
}

impl World {
    /// Runs the digest job at `at` and delivers what it queued; returns how
    /// many messages it queued.
    async fn run_at(&self, at: DateTime<Utc>) -> usize {
        self.clock.set(at);
        let queued = self.instance.digests.run_due().await.unwrap();
        self.instance.dispatcher.drain().await.unwrap();
        queued
    }
}

on_both_backends!(
    world;
    the_weekly_digest_goes_at_seven_local_time_in_both_clock_change_weeks,
    a_restart_after_seven_sends_the_weekly_digest_once,
    each_sergeant_gets_the_daily_digest_for_their_own_lpas,
    the_weekly_digest_ends_with_the_audit_chain_head_at_the_week_end,
);

/// Every recipient's copy of the weekly digest ends with the audit chain's
/// head at the week's end (the last line written at or before it, not one
/// written since), which `audit verify --head` then checks the log against.
async fn the_weekly_digest_ends_with_the_audit_chain_head_at_the_week_end(w: World) {
    let store = w.instance.app.store().clone();
    // Week 9 of 2024 ends on Monday 4 March at 00:00 (GMT). A read after
    // that, before the digest goes at 07:00, is not in its head.
    let week_end = utc("2024-03-04T00:00:00Z");
    store
        .audit(
            &Actor::named("token:viewer"),
            "packages.listed",
            None,
            None,
            utc("2024-03-04T06:00:00Z"),
        )
        .await
        .unwrap();
    let expected = store
        .audit_chain_head_at(week_end)
        .await
        .unwrap()
        .expect("the seeding's lines");
    assert_eq!(
        expected.seq, 3,
        "three packages created before the week's end"
    );
    assert_eq!(w.run_at(utc("2024-03-04T07:00:00Z")).await, 2);
    for address in [SLT, ACC] {
        let mail = w.mail_to(address).pop().unwrap();
        // The head is the last line before the closing protective marking,
        // which stays last.
        let lines: Vec<&str> = mail.text.trim_end().lines().map(str::trim).collect();
        assert_eq!(
            lines[lines.len() - 1],
            "OFFICIAL-SENSITIVE",
            "{}",
            mail.text
        );
        assert_eq!(lines[lines.len() - 2], "", "{}", mail.text);
        let last = lines[lines.len() - 3].to_string();
        assert_eq!(
            last,
            format!("Audit chain head: {expected}"),
            "{}",
            mail.text
        );
        assert!(mail.text.contains("end of 2024-W09"), "{}", mail.text);
        let html_head = format!("<code>{expected}</code></p>");
        let (_, after) = mail
            .html
            .rsplit_once(&html_head)
            .expect("the head in the HTML");
        assert!(
            after.contains("OFFICIAL-SENSITIVE</p></body>"),
            "{}",
            mail.html
        );
        // The copy in the mailbox is what `audit verify --head` takes.
        let copy: ocset_scheduler::store::ChainHead = last
            .trim_start_matches("Audit chain head: ")
            .parse()
            .unwrap();
        assert!(matches!(
            store.verify_audit_chain(Some(&copy)).await.unwrap(),
            ocset_scheduler::store::ChainVerdict::Intact(_)
        ));
    }
}

async fn the_weekly_digest_goes_at_seven_local_time_in_both_clock_change_weeks(w: World) {
    // The Mondays either side of each 2024 change: 07:00 GMT is 07:00 UTC,
    // 07:00 BST is 06:00 UTC (clocks went forward on Sunday 31 March and
    // back on Sunday 27 October).
    for (due, week) in [
        ("2024-03-25T07:00:00Z", "week 12 2024"),
        ("2024-04-01T06:00:00Z", "week 13 2024"),
        ("2024-10-21T06:00:00Z", "week 42 2024"),
        ("2024-10-28T07:00:00Z", "week 43 2024"),
    ] {
        let due = utc(due);
        w.clock.set(due - Duration::hours(2));
        assert_eq!(w.instance.digests.next_at(), Some(due), "{week}");
        let before = w.smtp.messages().len();
        assert_eq!(w.run_at(due - Duration::seconds(1)).await, 0, "{week}");
        assert_eq!(w.run_at(due).await, 2, "{week}: to SLT and the ACC");
        assert_eq!(w.run_at(due + Duration::minutes(5)).await, 0, "once");
        assert_eq!(w.smtp.messages().len(), before + 2);
        for address in [SLT, ACC] {
            let mail = w.mail_to(address).pop().unwrap();
            assert_eq!(
                mail.subject,
                format!("[OFFICIAL-SENSITIVE] OCSET weekly performance, {week}")
            );
            assert!(mail.text.contains("OFFICIAL-SENSITIVE"), "{}", mail.text);
            assert!(mail.html.contains("<table"), "{}", mail.html);
            // A force's few packages: listed whole, the CSV as text.
            assert!(!mail.text.contains("… and"), "{}", mail.text);
            assert_eq!(mail.attachments.len(), 1);
            let csv = &mail.attachments[0];
            assert_eq!(csv.content_type, "text/csv");
            let week_key = format!(
                "2024-W{}",
                week.trim_start_matches("week ").split(' ').next().unwrap()
            );
            assert_eq!(csv.filename, format!("ocset-weekly-{week_key}.csv"));
            for reference in ["BHM-1", "BHM-2", "COV-1"] {
                assert!(csv.body.contains(reference), "{reference} in {}", csv.body);
            }
        }
    }
    // Each run is in the audit log, per recipient.
    let audit = w.instance.app.store().audit_log(None).await.unwrap();
    let queued: Vec<&str> = audit
        .iter()
        .filter(|line| line.action == "digest.queued")
        .filter_map(|line| line.detail.as_deref())
        .collect();
    assert_eq!(queued.len(), 8, "{queued:?}");
    assert!(queued.contains(&"weekly 2024-W12 to ppu.slt@force.example"));
}

async fn a_restart_after_seven_sends_the_weekly_digest_once(w: World) {
    // Down at 07:00 on Monday 4 March; started again at 09:30: the weekly
    // digest goes (to SLT and the ACC), and so does the day's daily one
    // (to the two sets of sergeants), missed at 08:00.
    let started = utc("2024-03-04T09:30:00Z");
    assert_eq!(w.run_at(started).await, 4, "sent on start, the same week");
    // Restarted again: a new job, nothing remembered but the database.
    let restarted = instance(w.settings.clone(), &w.url, &w.clock, "worker-b").await;
    w.clock.set(started + Duration::minutes(10));
    assert_eq!(restarted.digests.run_due().await.unwrap(), 0);
    // Friday before the daily run: the week's digest was sent.
    w.clock.set(utc("2024-03-08T07:30:00Z"));
    assert_eq!(restarted.digests.run_due().await.unwrap(), 0);
    assert_eq!(w.mail_to(SLT).len(), 1);
    assert_eq!(
        w.mail_to(SLT)[0].subject,
        "[OFFICIAL-SENSITIVE] OCSET weekly performance, week 9 2024"
    );
    // Down over the whole of the next Monday and back the Monday after
    // before 07:00: the missed week is left, the next run comes at 07:00.
    assert_eq!(w.run_at(utc("2024-03-18T06:30:00Z")).await, 0);
    assert_eq!(w.run_at(utc("2024-03-18T07:00:00Z")).await, 2);
    let subjects: Vec<String> = w.mail_to(SLT).into_iter().map(|m| m.subject).collect();
    assert_eq!(
        subjects,
        [
            "[OFFICIAL-SENSITIVE] OCSET weekly performance, week 9 2024",
            "[OFFICIAL-SENSITIVE] OCSET weekly performance, week 11 2024",
        ]
    );
}

async fn each_sergeant_gets_the_daily_digest_for_their_own_lpas(w: World) {
    // Tuesday 5 March, 08:00 GMT. BHM-1 (very high, received 28 Feb 09:00)
    // breached on 1 March; COV-1 (high, 7 days from 27 Feb) is due on
    // 5 March 09:00, within 48 hours; BHM-2 (medium, 21 days) is not.
    assert_eq!(w.run_at(utc("2024-03-04T07:00:00Z")).await, 2, "the weekly");
    let due = utc("2024-03-05T08:00:00Z");
    assert_eq!(w.run_at(due - Duration::seconds(1)).await, 0);
    assert_eq!(
        w.run_at(due).await,
        2,
        "Birmingham's sergeants and the rest"
    );
    assert_eq!(w.run_at(due + Duration::hours(1)).await, 0, "once a day");
    let birmingham = w.mail_to(BIRMINGHAM_SERGEANTS);
    assert_eq!(birmingham.len(), 1);
    assert!(
        birmingham[0].text.contains("BHM-1"),
        "{}",
        birmingham[0].text
    );
    assert!(!birmingham[0].text.contains("COV-1"));
    assert!(
        !birmingham[0].text.contains("BHM-2"),
        "not due within 48 hours"
    );
    let rest = w.mail_to(SERGEANTS);
    assert_eq!(rest.len(), 1);
    assert!(rest[0].text.contains("COV-1"), "{}", rest[0].text);
    assert!(!rest[0].text.contains("BHM-1"));
    for mail in [&birmingham[0], &rest[0]] {
        assert!(
            mail.subject.starts_with("[OFFICIAL-SENSITIVE] OCSET daily"),
            "{}",
            mail.subject
        );
        assert_eq!(mail.attachments[0].filename, "ocset-daily-2024-03-05.csv");
    }
    // The next day's run goes the next day.
    assert_eq!(w.run_at(due + Duration::days(1)).await, 2);
}

/// Two instances on one PostgreSQL database run the job at 07:00 at the
/// same moment: each recipient is sent the digest once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_instances_send_the_weekly_digest_once() {
    common::with_postgres(|url| async move {
        let w = world(url.clone()).await;
        let other = instance(w.settings.clone(), &url, &w.clock, "worker-b").await;
        w.clock.set(utc("2024-03-04T07:00:00Z"));
        let (a, b) = tokio::join!(w.instance.digests.run_due(), other.digests.run_due());
        assert_eq!(a.unwrap() + b.unwrap(), 2, "two recipients, once each");
        let (a, b) = tokio::join!(w.instance.dispatcher.drain(), other.dispatcher.drain());
        assert_eq!(a.unwrap().sent + b.unwrap().sent, 2);
        assert_eq!(w.mail_to(SLT).len(), 1);
        assert_eq!(w.mail_to(ACC).len(), 1);
        // And again, a little later, on both: nothing more.
        w.clock.set(utc("2024-03-04T07:01:00Z"));
        let (a, b) = tokio::join!(w.instance.digests.run_due(), other.digests.run_due());
        assert_eq!(a.unwrap() + b.unwrap(), 0);
    })
    .await;
}

/// `digest send` queues the week again for the weekly audience, even
/// after the scheduled run, and the audit log says who asked.
#[tokio::test]
async fn sending_a_week_on_demand_sends_it_again_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let w = world(common::sqlite_url(dir.path())).await;
    assert_eq!(w.run_at(utc("2024-03-04T07:00:00Z")).await, 2);
    let week = "2024-W09".parse().unwrap();
    let queued = w
        .instance
        .digests
        .send_week(week, &Actor::named("cli:inspector"))
        .await
        .unwrap();
    assert_eq!(queued, 2);
    w.instance.dispatcher.drain().await.unwrap();
    assert_eq!(w.mail_to(SLT).len(), 2);
    let audit = w.instance.app.store().audit_log(None).await.unwrap();
    assert!(audit.iter().any(|line| line.actor == "cli:inspector"
        && line.action == "digest.queued"
        && line.detail.as_deref() == Some("on-demand 2024-W09 to ppu.slt@force.example")));
}

/// The README's first run, `serve` then `demo` then `serve`: the first
/// `serve` meets the weekly digest owed (Monday after 07:00) with nothing in
/// the ledger. It queues nothing and records nothing, so the digest the
/// restarted service queues once the demo is loaded carries the demo data.
#[tokio::test]
async fn a_digest_owed_over_an_empty_ledger_waits_for_the_demo_data() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(common::sqlite_url(dir.path()), utc("2024-03-04T09:30:00Z")).await;
    assert_eq!(w.run_at(utc("2024-03-04T09:30:00Z")).await, 0, "empty");
    assert!(w
        .instance
        .app
        .store()
        .digest_recipients("weekly/2024-W09")
        .await
        .unwrap()
        .is_empty());
    ocset_scheduler::demo::load(&w.instance.app).await.unwrap();
    let restarted = instance(w.settings.clone(), &w.url, &w.clock, "worker-b").await;
    w.clock.set(utc("2024-03-04T09:40:00Z"));
    assert_eq!(
        restarted.digests.run_due().await.unwrap(),
        4,
        "the weekly to SLT and the ACC, the daily to both sets of sergeants"
    );
    restarted.dispatcher.drain().await.unwrap();
    let weekly = w.mail_to(SLT).pop().expect("the weekly digest");
    assert!(weekly.text.contains("DEMO-"), "{}", weekly.text);
    assert!(weekly.attachments[0].body.contains("DEMO-0001"));
    // The capacity section: the demo's 12 weeks of demand and the forecast.
    assert!(
        weekly
            .text
            .contains("Capacity and demand (as at the week's end)")
            && weekly
                .text
                .contains("received in the last 12 complete weeks")
            && weekly.text.contains("Next 4 weeks"),
        "{}",
        weekly.text
    );
    assert!(
        weekly.html.contains("<div id=\"capacity\">"),
        "{}",
        weekly.html
    );
}

/// Monthly and quarterly digests beside the shipped weekly and daily ones:
/// the monthly (the PPU's SIM) to PPU SLT at 07:00, the quarterly (the QPR)
/// to the ACC's office at 07:30, Europe/London.
mod calendar {
    use super::*;

    async fn calendar_world(url: String) -> World {
        let digests = r#"[
            {name = "weekly", kind = "weekly", at = "07:00", audience = ["ppu_slt", "acc_crime"]},
            {name = "daily-sergeants", kind = "daily", at = "08:00", audience = ["ocset_sergeants"]},
            {name = "monthly", kind = "monthly", at = "07:00", audience = ["ppu_slt"]},
            {name = "quarterly", kind = "quarterly", at = "07:30", audience = ["acc_crime"]},
        ]"#;
        let mut env = crate::common::REVIEWS_BEYOND_THE_TEST.to_vec();
        env.push(("OCSET__DIGEST", digests));
        seeded(World::start_with(url, utc("2024-03-01T09:00:00Z"), &env).await).await
    }

    /// The subjects of the mail `address` has received that name `kind`
    /// ("monthly", "quarterly"), oldest first.
    fn subjects(w: &World, address: &str, kind: &str) -> Vec<String> {
        w.mail_to(address)
            .into_iter()
            .map(|m| m.subject)
            .filter(|s| s.contains(&format!("OCSET {kind} performance")))
            .collect()
    }

    on_both_backends!(
        calendar_world;
        the_monthly_digest_goes_once_on_the_first_working_day_after_the_month,
        monthly_and_quarterly_digests_missed_while_down_go_when_the_service_returns,
    );

    async fn the_monthly_digest_goes_once_on_the_first_working_day_after_the_month(w: World) {
        // May 2024 ends on Friday the 31st; the first working day after it
        // is Monday 3 June, and 07:00 BST is 06:00 UTC. Nothing on the
        // weekend (April's run, due on 1 May, is no longer owed in June).
        for at in [
            "2024-06-01T10:00:00Z",
            "2024-06-02T10:00:00Z",
            "2024-06-03T05:59:59Z",
        ] {
            w.run_at(utc(at)).await;
            assert!(subjects(&w, SLT, "monthly").is_empty(), "{at}");
        }
        let due = utc("2024-06-03T06:00:00Z");
        w.run_at(due).await;
        assert_eq!(
            subjects(&w, SLT, "monthly"),
            ["[OFFICIAL-SENSITIVE] OCSET monthly performance, May 2024"]
        );
        let mail = w
            .mail_to(SLT)
            .into_iter()
            .find(|m| m.subject.contains("monthly"))
            .unwrap();
        assert!(
            mail.text.contains("OCSET monthly performance, 2024-05"),
            "{}",
            mail.text
        );
        assert!(mail.text.contains("Last 12 months"), "{}", mail.text);
        assert!(mail.html.contains("<table"));
        assert_eq!(mail.attachments[0].filename, "ocset-monthly-2024-05.csv");
        for reference in ["BHM-1", "BHM-2", "COV-1"] {
            assert!(mail.attachments[0].body.contains(reference), "{reference}");
        }
        // Only to the monthly audience: the ACC's office has none.
        assert!(subjects(&w, ACC, "monthly").is_empty());

        // Later that morning, and after a restart (a new job, nothing
        // remembered but the database): not again.
        w.run_at(due + Duration::minutes(5)).await;
        let restarted = instance(w.settings.clone(), &w.url, &w.clock, "worker-b").await;
        w.clock.set(due + Duration::hours(3));
        restarted.digests.run_due().await.unwrap();
        restarted.dispatcher.drain().await.unwrap();
        w.run_at(utc("2024-06-28T12:00:00Z")).await;
        assert_eq!(subjects(&w, SLT, "monthly").len(), 1, "once");
        assert_eq!(
            w.instance
                .app
                .store()
                .digest_recipients("monthly/2024-05")
                .await
                .unwrap(),
            [SLT]
        );
        // June's goes on Monday 1 July.
        w.run_at(utc("2024-07-01T06:00:00Z")).await;
        assert_eq!(
            subjects(&w, SLT, "monthly").last().unwrap(),
            "[OFFICIAL-SENSITIVE] OCSET monthly performance, June 2024"
        );
    }

    /// `digest send --month` queues the month to the monthly audience
    /// only, on demand, audited.
    #[tokio::test]
    async fn sending_a_month_on_demand_goes_to_the_monthly_audience() {
        let dir = tempfile::tempdir().unwrap();
        let w = calendar_world(common::sqlite_url(dir.path())).await;
        w.clock.set(utc("2024-03-05T12:00:00Z"));
        let month = "2024-02".parse().unwrap();
        let queued = w
            .instance
            .digests
            .send_period(month, &Actor::named("cli:inspector"))
            .await
            .unwrap();
        assert_eq!(queued, 1, "PPU SLT, the monthly audience");
        w.instance.dispatcher.drain().await.unwrap();
        assert_eq!(
            subjects(&w, SLT, "monthly"),
            ["[OFFICIAL-SENSITIVE] OCSET monthly performance, February 2024"]
        );
        assert!(w.mail_to(ACC).is_empty());
        let audit = w.instance.app.store().audit_log(None).await.unwrap();
        assert!(audit.iter().any(|line| line.actor == "cli:inspector"
            && line.detail.as_deref() == Some("on-demand 2024-02 to ppu.slt@force.example")));
    }

    async fn monthly_and_quarterly_digests_missed_while_down_go_when_the_service_returns(w: World) {
        // Down from before Monday 1 April 2024 (March's and Q1's runs, at
        // 06:00 and 06:30 UTC) until Wednesday 3 April: both go at start.
        w.run_at(utc("2024-04-03T10:00:00Z")).await;
        assert_eq!(
            subjects(&w, SLT, "monthly"),
            ["[OFFICIAL-SENSITIVE] OCSET monthly performance, March 2024"]
        );
        assert_eq!(
            subjects(&w, ACC, "quarterly"),
            ["[OFFICIAL-SENSITIVE] OCSET quarterly performance, Q1 2024 (January to March)"]
        );
        let q1 = w
            .mail_to(ACC)
            .into_iter()
            .find(|m| m.subject.contains("quarterly"))
            .unwrap();
        assert_eq!(q1.attachments[0].filename, "ocset-quarterly-2024-Q1.csv");
        assert!(q1.text.contains("Last 8 quarters"), "{}", q1.text);
        // Not again that month, nor that quarter.
        w.run_at(utc("2024-04-20T10:00:00Z")).await;
        assert_eq!(subjects(&w, SLT, "monthly").len(), 1);
        assert_eq!(subjects(&w, ACC, "quarterly").len(), 1);

        // Down through the whole of May: April's run (due Wednesday 1 May)
        // is left once June begins; May's goes on Monday 3 June.
        w.run_at(utc("2024-06-03T05:00:00Z")).await;
        assert_eq!(subjects(&w, SLT, "monthly").len(), 1, "April's is left");
        w.run_at(utc("2024-06-03T06:00:00Z")).await;
        assert_eq!(
            subjects(&w, SLT, "monthly").last().unwrap(),
            "[OFFICIAL-SENSITIVE] OCSET monthly performance, May 2024"
        );
        assert!(w
            .instance
            .app
            .store()
            .digest_recipients("monthly/2024-04")
            .await
            .unwrap()
            .is_empty());
    }
}
