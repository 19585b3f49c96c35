//! Digests over many packages stay readable and bounded: the body lists the
//! most overdue few of each list and says how many more there are, and the
//! full list goes as a gzip-compressed CSV that, decompressed, holds every
//! package. The real digest job and dispatcher, a real database (SQLite
//! and PostgreSQL), and real SMTP to the tests' server; the cap set small
//! (10 lines, compressed above 100 rows) so 2,000 packages pass it.

use crate::common::parts::World;
use crate::common::smtp::{ParsedAttachment, ParsedMail};
use crate::common::utc;
use chrono::Duration;
use ocset_scheduler::clock::Clock;
use ocset_scheduler::digest::job::DigestJob;
use ocset_scheduler::digest::DigestLimits;
use ocset_scheduler::intake::NewPackage;
use ocset_scheduler::store::{Actor, LedgerEntry};
use std::io::Read;
use std::sync::Arc;

const SLT: &str = "ppu.slt@force.example";
const BIRMINGHAM_SERGEANTS: &str = "birmingham.ocset.sergeants@force.example";
/// Open packages in the ledger, half in Birmingham, half in Coventry.
const PACKAGES: usize = 2_000;
/// The cap in this test: lines of each list in a body.
const LIST: usize = 10;

/// [`PACKAGES`] very-high packages (48 hours) received a minute apart from
/// 1 February 2024, all breached by March: `MANY-0000`, the first
/// received, is the most overdue.
async fn many(url: String) -> World {
    let w = World::start(url, utc("2024-03-01T09:00:00Z")).await;
    let app = &w.instance.app;
    let (rules, now) = (app.intake_rules(), w.clock.now());
    let first = utc("2024-02-01T00:00:00Z");
    let entries: Vec<LedgerEntry> = (0..PACKAGES)
        .map(|i| {
            let input = NewPackage {
                reference: format!("MANY-{i:04}"),
                risk_grade: "very_high".into(),
                received_at: (first + Duration::minutes(i as i64)).to_rfc3339(),
                lpa: ["Birmingham", "Coventry"][i % 2].into(),
                stage: "awaiting_enforcement".into(),
                assigned_officer: Some(format!("pc.{}@force.example", i % 7)),
                ..NewPackage::default()
            };
            app.created_entry(rules.admit(&input, now).unwrap())
        })
        .collect();
    for batch in entries.chunks(500) {
        app.store()
            .insert_packages(batch, &Actor::named("test"), now)
            .await
            .unwrap();
    }
    w
}

impl World {
    /// A digest job over this world's instance with the test's small cap.
    fn capped_job(&self) -> DigestJob {
        let clock: Arc<dyn Clock> = Arc::new(self.clock.clone());
        DigestJob::new(
            self.instance.app.store().clone(),
            self.settings.clone(),
            clock,
        )
        .with_limits(DigestLimits {
            list: LIST,
            plain_rows: 100,
            ..DigestLimits::default()
        })
    }
}

/// The attachment decompressed and parsed: the header and every row.
fn decompressed(file: &ParsedAttachment) -> (csv::StringRecord, Vec<csv::StringRecord>) {
    assert_eq!(file.content_type, "application/gzip");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&file.bytes[..])
        .read_to_string(&mut text)
        .expect("a gzip file of UTF-8 text");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let rows = reader.records().map(Result::unwrap).collect();
    (header, rows)
}

/// The lines of `text` that list a package of this test.
fn listed(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.trim_start().starts_with("MANY-"))
        .collect()
}

on_both_backends!(
    many;
    a_weekly_digest_over_many_packages_lists_the_most_overdue_and_attaches_every_one_compressed,
    a_daily_digest_over_many_packages_lists_the_first_of_each_list_and_attaches_the_rest,
);

async fn a_weekly_digest_over_many_packages_lists_the_most_overdue_and_attaches_every_one_compressed(
    w: World,
) {
    // Monday 4 March 2024, 07:00: the weekly report on week 9.
    w.clock.set(utc("2024-03-04T07:00:00Z"));
    let job = w.capped_job();
    assert!(job.run_due().await.unwrap() >= 2, "to SLT and the ACC");
    w.instance.dispatcher.drain().await.unwrap();
    let raw = w.smtp.messages();
    let mail: ParsedMail = w.mail_to(SLT).pop().unwrap();
    assert_eq!(
        mail.subject,
        "[OFFICIAL-SENSITIVE] OCSET weekly performance, week 9 2024"
    );

    // The body: every breach counted, the ten most overdue listed, and
    // where the rest are.
    let more =
        "… and 1,990 more; the full list is in the attached file ocset-weekly-2024-W09.csv.gz.";
    assert!(
        mail.text
            .contains(&format!("Breaches at the week's end ({PACKAGES})")),
        "{}",
        mail.text
    );
    let lines = listed(&mail.text);
    assert_eq!(lines.len(), LIST, "{}", mail.text);
    assert!(lines[0]
        .trim_start()
        .starts_with("MANY-0000 | Very high | Birmingham"));
    assert!(lines[9]
        .trim_start()
        .starts_with("MANY-0009 | Very high | Coventry"));
    assert!(
        mail.text.lines().any(|l| l == format!("  {more}")),
        "{}",
        mail.text
    );
    assert!(mail.text.starts_with("OFFICIAL-SENSITIVE"));
    assert!(mail.text.trim_end().ends_with("OFFICIAL-SENSITIVE"));
    let breaches = mail
        .html
        .split("<table id=\"breaches\"")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .unwrap();
    assert_eq!(breaches.matches(">MANY-").count(), LIST, "{breaches}");
    assert!(breaches.contains(more), "{breaches}");
    // The headline and the tables are all there.
    assert!(mail.html.contains("<div id=\"headline\""));
    assert!(mail.html.contains("<table id=\"by-lpa\""));

    // The attachment: every open package, compressed.
    assert_eq!(mail.attachments.len(), 1);
    let file = &mail.attachments[0];
    assert_eq!(file.filename, "ocset-weekly-2024-W09.csv.gz");
    let (header, rows) = decompressed(file);
    assert_eq!(&header[2], "reference");
    assert_eq!(rows.len(), PACKAGES);
    assert!(rows
        .iter()
        .all(|r| &r[0] == "OFFICIAL-SENSITIVE" && &r[1] == "2024-W09"));
    let mut references: Vec<&str> = rows.iter().map(|r| &r[2]).collect();
    references.sort_unstable();
    references.dedup();
    assert_eq!(references.len(), PACKAGES, "each package once");
    let first = &rows[0];
    assert_eq!(
        (&first[2], &first[3], &first[5], &first[9]),
        ("MANY-0000", "very_high", "Birmingham", "true")
    );
    let last = rows.iter().find(|r| &r[2] == "MANY-1999").unwrap();
    assert_eq!((&last[5], &last[9]), ("Coventry", "true"));
    assert_eq!(&last[11], "pc.4@force.example", "1999 % 7");

    // Bounded: a small message, for all 2,000 packages.
    for message in raw {
        assert!(message.data.len() < 200_000, "{} bytes", message.data.len());
    }
}

async fn a_daily_digest_over_many_packages_lists_the_first_of_each_list_and_attaches_the_rest(
    w: World,
) {
    // Tuesday 5 March 2024, 08:00: the daily list (the weekly goes too).
    w.clock.set(utc("2024-03-05T08:00:00Z"));
    let job = w.capped_job();
    job.run_due().await.unwrap();
    w.instance.dispatcher.drain().await.unwrap();
    let mail = w.mail_to(BIRMINGHAM_SERGEANTS).pop().unwrap();
    assert!(
        mail.subject
            .starts_with("[OFFICIAL-SENSITIVE] OCSET daily: 1000 breached, 0 due"),
        "{}",
        mail.subject
    );
    assert!(
        mail.text.contains("Birmingham: 1000 breached, 0 due"),
        "{}",
        mail.text
    );
    let lines = listed(&mail.text);
    assert_eq!(lines.len(), LIST, "{}", mail.text);
    assert!(lines[0].trim_start().starts_with("MANY-0000 |"));
    assert!(lines[9].trim_start().starts_with("MANY-0018 |"));
    assert!(
        mail.text.contains(
            "… and 990 more; the full list is in the attached file ocset-daily-2024-03-05.csv.gz."
        ),
        "{}",
        mail.text
    );
    assert!(!mail.text.contains("Coventry"), "{}", mail.text);
    assert_eq!(mail.html.matches(">MANY-").count(), LIST);

    let file = &mail.attachments[0];
    assert_eq!(file.filename, "ocset-daily-2024-03-05.csv.gz");
    let (header, rows) = decompressed(file);
    assert_eq!(&header[3], "reference");
    assert_eq!(rows.len(), PACKAGES / 2, "every Birmingham package");
    assert!(rows
        .iter()
        .all(|r| &r[0] == "OFFICIAL-SENSITIVE" && &r[2] == "breached" && &r[5] == "Birmingham"));
    assert_eq!(&rows[0][3], "MANY-0000");
    assert_eq!(&rows[999][3], "MANY-1998");
    // MANY-0000: deadline 3 February 00:00, 31 days and 8 hours before (2024 is a leap year).
    assert_eq!(&rows[0][8], "752");
}
