//! A digest's email, bounded in size whatever the ledger holds: the body
//! has the headline and the tables, and lists at most
//! [`DigestLimits::list`] lines of each list (the most overdue, the
//! soonest due) with a line saying how many more there are and where; the
//! full list is the attached CSV, as text up to
//! [`DigestLimits::plain_rows`] rows (as it always was), gzip-compressed
//! above that, and not attached at all, but linked, when even compressed
//! it would pass [`DigestLimits::attachment_bytes`].
//!
//! So a digest's outbox row is bounded: its texts by the caps (lines of
//! bounded width per list, and as many lists as the force has LPAs), its
//! attachment by `plain_rows` rows or `attachment_bytes` bytes (in base64,
//! a third more). Everything here is CPU work on events already read: the
//! job runs it on the blocking pool.

use crate::outbox::{Attachment, DigestMail};
use crate::report::daily::DailyReport;
use crate::report::listing::{FullList, ListCap, DIGEST_LIST_LIMIT};
use crate::report::{daily_render, render, PeriodKind, WeeklyReport};
use std::io::Write;

/// The media type of a CSV attached as text.
const CSV: &str = "text/csv; charset=utf-8";
/// The media type of a gzip-compressed CSV.
const GZIP: &str = "application/gzip";

/// How much of a list a digest's email carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestLimits {
    /// The most lines of each list the body shows
    /// ([`DIGEST_LIST_LIMIT`], 50).
    pub list: usize,
    /// Up to this many rows (5,000, about 1 MB) the CSV is attached as
    /// text, as it always was; a longer one gzip-compressed (`.csv.gz`).
    pub plain_rows: usize,
    /// The largest compressed attachment, in bytes (5 MiB: under 7 MB in
    /// base64, within what relays commonly take); a longer list is not
    /// attached, and the line under each cut list says where it is.
    pub attachment_bytes: usize,
}

impl Default for DigestLimits {
    fn default() -> Self {
        Self {
            list: DIGEST_LIST_LIMIT,
            plain_rows: 5_000,
            attachment_bytes: 5 * 1024 * 1024,
        }
    }
}

/// The weekly (monthly, quarterly) report as the digest `digest`.
/// `public_url` (`http.public_url`) gives the link to a list too long to
/// attach.
pub(crate) fn report_mail(
    report: &WeeklyReport,
    digest: String,
    limits: &DigestLimits,
    public_url: Option<&str>,
) -> DigestMail {
    let period = report.period;
    let kind = period.kind();
    let (attachment, rest) = attach(
        format!("ocset-{}-{period}.csv", kind.adjective()),
        report.open_packages.len(),
        limits,
        |out| render::write_csv(report, out),
        || {
            let option = kind.as_str();
            FullList::TooLong(match (public_url, kind) {
                (Some(base), PeriodKind::Week) => format!(
                    "it is on the dashboard at {}/reports/weekly.csv?week={period}",
                    base.trim_end_matches('/')
                ),
                (Some(base), _) => format!(
                    "it is at {}/api/v1/reports/{}?{option}={period}&format=csv",
                    base.trim_end_matches('/'),
                    kind.adjective()
                ),
                (None, _) => format!(
                    "ask for it with: ocset-scheduler digest preview --{option} {period} --format csv"
                ),
            })
        },
    );
    let cap = ListCap {
        limit: limits.list,
        rest,
    };
    DigestMail {
        digest,
        marking: report.marking.clone(),
        subject: render::subject(report),
        text: render::text_capped(report, Some(&cap)),
        html: render::html_capped(report, Some(&cap)),
        attachment,
    }
}

/// The label of the digest's last line, before `SEQ:HASH`.
pub(crate) const CHAIN_HEAD_LABEL: &str = "Audit chain head:";

/// Ends `mail` (both parts) with the audit chain's `head` at the end of
/// `period`, just before the closing protective marking (which stays the
/// last line, as the marking rules ask): the text's last line before it is
/// `Audit chain head: SEQ:HASH` (`none` while the audit log was empty).
pub(crate) fn end_with_chain_head(
    mail: &mut DigestMail,
    period: crate::domain::ReportPeriod,
    head: Option<&crate::store::ChainHead>,
) {
    let head = head.map_or_else(|| "none".to_string(), ToString::to_string);
    let why = format!(
        "The audit log's hash chain at the end of {period}; keep this message: \
         `ocset-scheduler audit verify --head SEQ:HASH` shows whether the log was altered since."
    );
    let text = format!("\n{why}\n{CHAIN_HEAD_LABEL} {head}\n");
    let closing = format!("\n{}", mail.marking);
    match mail.text.rfind(&closing) {
        Some(at) if mail.text[at + closing.len()..].trim().is_empty() => {
            mail.text.insert_str(at, &text);
        }
        _ => mail.text.push_str(&text),
    }
    let html = format!(
        "<p style=\"font-size:12px;color:#555\">{why}<br>{CHAIN_HEAD_LABEL} \
         <code>{head}</code></p>"
    );
    let closing = crate::report::html::marking(&mail.marking);
    match mail
        .html
        .rfind(&closing)
        .or_else(|| mail.html.rfind("</body>"))
    {
        Some(at) => mail.html.insert_str(at, &html),
        None => mail.html.push_str(&html),
    }
}

/// One recipient's daily list as the digest `digest` run on `date`.
pub(crate) fn daily_mail(
    list: &DailyReport,
    digest: String,
    date: impl std::fmt::Display,
    limits: &DigestLimits,
    public_url: Option<&str>,
) -> DigestMail {
    let rows = (list.total_breached + list.total_due) as usize;
    let (attachment, rest) = attach(
        format!("ocset-daily-{date}.csv"),
        rows,
        limits,
        |out| daily_render::write_daily_csv(list, out),
        || {
            FullList::TooLong(match public_url {
                Some(base) => {
                    let base = base.trim_end_matches('/');
                    format!("it is on the dashboard at {base}/breaches and {base}/due-soon")
                }
                None => "it is on the dashboard's Breaches and Due soon pages".into(),
            })
        },
    );
    let cap = ListCap {
        limit: limits.list,
        rest,
    };
    DigestMail {
        digest,
        marking: list.marking.clone(),
        subject: daily_render::daily_subject(list),
        text: daily_render::daily_text_capped(list, Some(&cap)),
        html: daily_render::daily_html_capped(list, Some(&cap)),
        attachment,
    }
}

/// The CSV `filename` of `rows` rows that `write` writes: as text when it
/// is short, else gzip-compressed as it is written (never held whole),
/// else, past the limit, not attached at all; with where the full list is
/// (`too_long` says where when it is not attached).
fn attach(
    filename: String,
    rows: usize,
    limits: &DigestLimits,
    write: impl Fn(&mut dyn Write) -> csv::Result<()>,
    too_long: impl FnOnce() -> FullList,
) -> (Option<Attachment>, FullList) {
    if rows <= limits.plain_rows {
        let mut text = Vec::new();
        write(&mut text).expect("writing to memory");
        let text = String::from_utf8(text).expect("CSV is UTF-8");
        let file = Attachment::text(filename.clone(), CSV, text);
        return (Some(file), FullList::Attached(filename));
    }
    let filename = format!("{filename}.gz");
    match gzip(limits.attachment_bytes, write) {
        Some(bytes) => (
            Some(Attachment::binary(filename.clone(), GZIP, &bytes)),
            FullList::Attached(filename),
        ),
        None => (None, too_long()),
    }
}

/// What `write` writes, gzip-compressed, or None as soon as the
/// compressed bytes pass `limit` (so no more than `limit` is ever held).
fn gzip(limit: usize, write: impl Fn(&mut dyn Write) -> csv::Result<()>) -> Option<Vec<u8>> {
    use flate2::{write::GzEncoder, Compression};
    let mut encoder = GzEncoder::new(
        Bounded {
            bytes: Vec::new(),
            limit,
        },
        // The fastest level: a CSV of packages still shrinks about tenfold,
        // at several times the default level's speed.
        Compression::fast(),
    );
    write(&mut encoder).ok()?;
    encoder.finish().ok().map(|bounded| bounded.bytes)
}

/// A buffer that refuses to grow past `limit`.
struct Bounded {
    bytes: Vec<u8>,
    limit: usize,
}

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > self.limit {
            return Err(std::io::Error::other("over the attachment limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn rows(n: usize) -> impl Fn(&mut dyn Write) -> csv::Result<()> {
        move |out| {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record(["marking", "reference"])?;
            for i in 0..n {
                writer.write_record(["OFFICIAL-SENSITIVE", &format!("REF-{i:07}")])?;
            }
            writer.flush()?;
            Ok(())
        }
    }

    fn limits(plain_rows: usize, attachment_bytes: usize) -> DigestLimits {
        DigestLimits {
            list: 2,
            plain_rows,
            attachment_bytes,
        }
    }

    fn never() -> FullList {
        panic!("attached, so no link is needed")
    }

    #[test]
    fn a_short_list_is_attached_as_text_as_before() {
        let (file, rest) = attach("a.csv".into(), 3, &limits(3, 100), rows(3), never);
        let file = file.unwrap();
        assert_eq!(file.filename, "a.csv");
        assert_eq!(file.content_type, CSV);
        assert!(!file.base64);
        assert_eq!(file.body.lines().count(), 4);
        assert_eq!(rest, FullList::Attached("a.csv".into()));
    }

    #[test]
    fn a_long_list_is_attached_compressed_and_decompresses_whole() {
        let (file, rest) = attach(
            "a.csv".into(),
            10_000,
            &limits(3, 1 << 20),
            rows(10_000),
            never,
        );
        let file = file.unwrap();
        assert_eq!(file.filename, "a.csv.gz");
        assert_eq!(file.content_type, GZIP);
        assert_eq!(rest, FullList::Attached("a.csv.gz".into()));
        let compressed = file.bytes();
        let mut csv = String::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_string(&mut csv)
            .unwrap();
        assert_eq!(csv.lines().count(), 10_001);
        assert_eq!(csv.lines().last(), Some("OFFICIAL-SENSITIVE,REF-0009999"));
        assert!(
            compressed.len() * 4 < csv.len(),
            "{} bytes",
            compressed.len()
        );
    }

    #[test]
    fn a_list_too_long_even_compressed_is_linked_not_attached() {
        let link = || FullList::TooLong("it is at https://ocset.example/breaches".into());
        let (file, rest) = attach(
            "a.csv".into(),
            100_000,
            &limits(3, 1_000),
            rows(100_000),
            link,
        );
        assert_eq!(file, None);
        assert_eq!(rest, link());
    }

    #[test]
    fn the_buffer_stops_at_its_limit() {
        assert_eq!(gzip(10, rows(100_000)), None);
        assert!(gzip(1 << 20, rows(10)).is_some());
    }
}
