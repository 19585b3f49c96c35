//! Email: a notice rendered as a marked `multipart/alternative` message
//! (plain text that stands alone, and a simple HTML table that Outlook
//! shows), or a rendered digest with its CSV attached, sent over a pool of
//! SMTP connections ([`super::smtp`]) or written as `.eml` files.

use super::config::{MailConfig, MailTransport};
use super::lines::{self, PackageLine};
use super::smtp::SmtpPool;
use super::Channel;
use crate::outbox::{DeliveryError, DigestMail, Notice, Payload};
use crate::text::esc as escape;
use anyhow::Context;
use async_trait::async_trait;
use lettre::message::header::{
    ContentTransferEncoding, ContentType, Header, HeaderName, HeaderValue,
};
use lettre::message::{Body, Mailbox, MultiPart};
use lettre::Message;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Renders `notice` as one message from `from` to `to`: the notice's
/// subject, a plain-text part and an HTML part, each with the marking at
/// its top and bottom and nothing from the packages beyond the notice's
/// fields.
pub fn render(notice: &Notice, from: &Mailbox, to: &Mailbox) -> Message {
    headers(from, to, notice.subject())
        .multipart(MultiPart::alternative_plain_html(
            render_text(notice),
            render_html(notice),
        ))
        .expect("a message with one sender and one recipient always builds")
}

/// Renders a digest as one message from `from` to `to`: its subject, its
/// plain-text and HTML parts as alternatives, and its attachment beside
/// them (`multipart/mixed`), which Outlook shows as an attached file.
///
/// Cheap whatever the digest's size: each text reaches lettre with CRLF
/// line endings already (lettre inserts a CR before each bare LF one at a
/// time, which is quadratic: minutes for a 142 MB list), and a binary
/// attachment goes as the base64 it was queued in, cut into lines, with
/// nothing encoded again.
pub(crate) fn render_digest(digest: &DigestMail, from: &Mailbox, to: &Mailbox) -> Message {
    let body = MultiPart::alternative_plain_html(crlf(&digest.text), crlf(&digest.html));
    let body = match &digest.attachment {
        None => body,
        Some(file) => {
            // A media type we wrote ourselves; plain text if it ever fails
            // to parse, so the digest still goes.
            let content_type =
                ContentType::parse(&file.content_type).unwrap_or(ContentType::TEXT_PLAIN);
            let attachment = lettre::message::Attachment::new(file.filename.clone());
            let part = if file.base64 {
                attachment.body(
                    Body::dangerous_pre_encoded(
                        base64_lines(&file.body),
                        ContentTransferEncoding::Base64,
                    ),
                    content_type,
                )
            } else {
                attachment.body(crlf(&file.body), content_type)
            };
            MultiPart::mixed().multipart(body).singlepart(part)
        }
    };
    headers(from, to, digest.subject.clone())
        .multipart(body)
        .expect("a message with one sender and one recipient always builds")
}

/// `text` with every line ending CRLF, in one pass: what lettre would make
/// of it, without its quadratic insertions (a bare CR is left alone, as
/// lettre leaves it).
fn crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    let mut previous = '\0';
    for c in text.chars() {
        if c == '\n' && previous != '\r' {
            out.push('\r');
        }
        out.push(c);
        previous = c;
    }
    out
}

/// Base64 text cut into the 76-character lines MIME asks for (RFC 2045),
/// each ended by CRLF. Anything but base64's alphabet is left out, so a
/// hand-edited row cannot put a line break or a header into the message.
fn base64_lines(encoded: &str) -> Vec<u8> {
    let clean = encoded
        .bytes()
        .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    let mut out = Vec::with_capacity(encoded.len() + encoded.len() / 38 + 2);
    for (i, b) in clean.enumerate() {
        if i > 0 && i.is_multiple_of(76) {
            out.extend_from_slice(b"\r\n");
        }
        out.push(b);
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// `Auto-Submitted: auto-generated` (RFC 3834): the message was made by a
/// machine, not a person, so out-of-office replies and other automatic
/// answers are not sent back to the service's address.
#[derive(Debug, Clone, Copy)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        match s.trim() {
            "auto-generated" => Ok(AutoSubmitted),
            other => Err(format!("not auto-generated: {other:?}").into()),
        }
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".into())
    }
}

/// The headers every message carries, escalations and digests alike.
fn headers(from: &Mailbox, to: &Mailbox, subject: String) -> lettre::message::MessageBuilder {
    Message::builder()
        .from(from.clone())
        .to(to.clone())
        .subject(subject)
        .header(AutoSubmitted)
        // lettre leaves Message-ID out unless asked; some relays and
        // filters distrust mail without one. The sender's domain names it.
        .message_id(Some(format!(
            "<{}@{}>",
            uuid::Uuid::new_v4(),
            from.email.domain()
        )))
}

fn render_text(notice: &Notice) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}\n\n{}\n",
        notice.marking,
        lines::introduction(notice)
    );
    for (kind, heading, items) in lines::groups(&notice.items) {
        let _ = writeln!(out, "{heading}\n{}\n", kind.action());
        for line in lines::package_lines(notice, items) {
            for (label, value) in line.fields() {
                let _ = writeln!(out, "  {label}: {value}");
            }
            out.push('\n');
        }
    }
    out.push_str(&notice.marking);
    out.push('\n');
    out
}

// Inline styles only: Outlook ignores <style> blocks in many setups, and
// there are no scripts, images or other outside assets. Nothing has a
// fixed width: each package is a two-column table as wide as the screen at
// most, its values wrapping, so a phone 420 px wide scrolls only down.
const MARKING_STYLE: &str = "padding:6px 0;font-weight:bold;color:#b00020;";
const TABLE_STYLE: &str =
    "border-collapse:collapse;width:100%;max-width:100%;font-size:13px;margin:0 0 12px 0;";
const CELL_STYLE: &str = "border:1px solid #999999;padding:6px;text-align:left;vertical-align:top;\
     word-wrap:break-word;overflow-wrap:anywhere;";
const LABEL_STYLE: &str =
    "border:1px solid #999999;padding:6px;text-align:left;vertical-align:top;\
     background:#eeeeee;width:35%;";
const ACTION_STYLE: &str = "margin:0 0 10px 0;font-weight:bold;";

/// The HTML part: the marking, the introduction, and per run of items of
/// one kind a heading, what to do, and a small table per package.
fn render_html(notice: &Notice) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en-GB\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title></head>\n\
         <body style=\"margin:0;padding:12px;max-width:100%;font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#1a1a1a;\">\n\
         <p style=\"margin:0;{MARKING_STYLE}\">{}</p>\n<p style=\"margin:12px 0;\">{}</p>\n",
        escape(&notice.subject()),
        escape(&notice.marking),
        escape(&lines::introduction(notice)),
    );
    for (kind, heading, items) in lines::groups(&notice.items) {
        let _ = write!(
            out,
            "<h2 style=\"font-size:16px;margin:16px 0 4px 0;\">{}</h2>\n<p style=\"{ACTION_STYLE}\">{}</p>\n",
            escape(&heading),
            escape(kind.action())
        );
        for row in lines::package_lines(notice, items) {
            html_package(&mut out, &row);
        }
    }
    let _ = write!(
        out,
        "<p style=\"margin:16px 0 0 0;{MARKING_STYLE}\">{}</p>\n</body></html>\n",
        escape(&notice.marking)
    );
    out
}

/// One package as a table of label and value rows; the time left or
/// overdue sits under the instant it is measured to, in red when overdue.
fn html_package(out: &mut String, row: &PackageLine) {
    let relative = format!(
        "<br><span style=\"{}\">{}</span>",
        if row.overdue {
            "color:#b00020;font-weight:bold;"
        } else {
            "color:#8a5a00;"
        },
        escape(&row.relative)
    );
    let reference = match &row.link {
        // Only web links become links: a template is checked to be http(s),
        // but the notice may have been made elsewhere.
        Some(link) if link.starts_with("https://") || link.starts_with("http://") => format!(
            "<a href=\"{}\" style=\"color:#0645ad;\">{}</a>",
            escape(link),
            escape(&row.reference)
        ),
        Some(link) => format!("{}<br>{}", escape(&row.reference), escape(link)),
        None => escape(&row.reference),
    };
    // The time left or overdue sits beside the instant it is measured to.
    let own_clock = row.referral_due.as_ref().or(row.review_due.as_ref());
    let (deadline_note, referral_note) = if own_clock.is_some() {
        ("", relative.as_str())
    } else {
        (relative.as_str(), "")
    };
    let mut cells = vec![
        ("Reference", format!("<strong>{reference}</strong>")),
        ("Risk grade", escape(row.grade)),
        ("LPA", escape(&row.lpa)),
        ("Stage", escape(row.stage)),
        ("Received", escape(&row.received)),
        (
            "Deadline",
            format!("{}{deadline_note}", escape(&row.deadline)),
        ),
    ];
    if let Some(referral) = &row.referral_due {
        cells.push((
            "Referral due",
            format!("{}{referral_note}", escape(referral)),
        ));
    } else if let Some(review) = &row.review_due {
        cells.push(("Review due", format!("{}{referral_note}", escape(review))));
    }
    cells.push(("Assigned officer", escape(&row.officer)));
    let _ = writeln!(
        out,
        "<table width=\"100%\" cellpadding=\"6\" cellspacing=\"0\" style=\"{TABLE_STYLE}\">"
    );
    for (label, value) in cells {
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\" style=\"{LABEL_STYLE}\">{label}</th><td style=\"{CELL_STYLE}\">{value}</td></tr>"
        );
    }
    out.push_str("</table>\n");
}

/// Sends notices by email through one transport, built once and reused: a
/// pool of SMTP connections, or a folder of `.eml` files.
#[derive(Clone)]
pub struct EmailSender {
    from: Mailbox,
    transport: Transport,
}

#[derive(Clone)]
enum Transport {
    Smtp(Arc<SmtpPool>),
    /// The folder the `.eml` files go to.
    File(Arc<PathBuf>),
}

impl std::fmt::Debug for EmailSender {
    // By hand, so nothing of the transport's settings (its credentials
    // among them) can reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let transport = match self.transport {
            Transport::Smtp(_) => "smtp",
            Transport::File(_) => "file",
        };
        f.debug_struct("EmailSender")
            .field("from", &self.from.to_string())
            .field("transport", &transport)
            .finish()
    }
}

impl EmailSender {
    /// Builds the sender from `[mail]` (the SMTP password included, read
    /// from `mail.smtp.password`). For the file transport it creates
    /// `file_dir`. Opens no SMTP connection until the first send.
    pub fn new(config: &MailConfig) -> anyhow::Result<Self> {
        let from = config.sender_mailbox().map_err(anyhow::Error::msg)?;
        let transport = match config.transport {
            MailTransport::File => {
                crate::files::create_private_dir_all(&config.file_dir).with_context(|| {
                    format!(
                        "cannot create the mail folder {}",
                        config.file_dir.display()
                    )
                })?;
                Transport::File(Arc::new(config.file_dir.clone()))
            }
            MailTransport::Smtp => Transport::Smtp(Arc::new(SmtpPool::new(&config.smtp)?)),
        };
        Ok(Self { from, transport })
    }

    /// Sends `payload` to `to_address` once. A message without a marking,
    /// a notice without packages, a refused address or any SMTP 5xx answer
    /// is `Permanent`; a 4xx answer, a refused or broken connection, a
    /// timeout or a TLS failure is `Transient`.
    pub async fn send(&self, payload: &Payload, to_address: &str) -> Result<(), DeliveryError> {
        super::check_sendable(payload)?;
        let to: Mailbox = to_address.parse().map_err(|e| {
            DeliveryError::Permanent(format!("{to_address:?} is not an email address: {e}"))
        })?;
        let message = match payload {
            Payload::Notice(notice) => render(notice, &self.from, &to),
            Payload::Digest(digest) => render_digest(digest, &self.from, &to),
        };
        match &self.transport {
            Transport::Smtp(pool) => pool.send(&message).await,
            // A full disk or a missing folder may be put right by an
            // operator, so a retry can help.
            Transport::File(folder) => {
                let folder = folder.clone();
                let written =
                    tokio::task::spawn_blocking(move || write_eml(&folder, &message.formatted()))
                        .await
                        .map_err(std::io::Error::other)
                        .and_then(|written| written);
                written.map_err(|e| {
                    DeliveryError::Transient(format!("cannot write the message file: {e}"))
                })
            }
        }
    }
}

/// Writes one message to `folder` as `<uuid>.eml` (the name lettre's file
/// transport gives), readable by the service's user alone: it names
/// packages. Written by hand because lettre writes under the umask.
fn write_eml(folder: &Path, formatted: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let path = folder.join(format!("{}.eml", uuid::Uuid::new_v4()));
    let mut file = crate::files::create_private_file(&path)?;
    file.write_all(formatted)
}

/// Email destinations: every message, notices and digests alike.
#[async_trait]
impl Channel for EmailSender {
    fn channel(&self) -> &'static str {
        "email"
    }

    async fn deliver(&self, to: &str, payload: &Payload) -> Result<(), DeliveryError> {
        self.send(payload, to).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{RiskGrade, Stage};
    use crate::outbox::{NoticeItem, NoticeKind};

    fn item(kind: NoticeKind, reference: &str) -> NoticeItem {
        NoticeItem {
            kind,
            level: "breach".into(),
            occurrence: 0,
            reference: reference.into(),
            risk_grade: RiskGrade::High,
            lpa: "Dudley".into(),
            stage: Stage::AwaitingEnforcement,
            received_at: "2024-03-21T10:00:00Z".parse().unwrap(),
            deadline_at: "2024-03-28T10:00:00Z".parse().unwrap(),
            referral_due_at: None,
            review_due_at: None,
            assigned_officer: Some("pc.jones@force.example".into()),
            link: None,
        }
    }

    fn notice(items: Vec<NoticeItem>) -> Notice {
        Notice {
            marking: "OFFICIAL-SENSITIVE".into(),
            force: "Example Police".into(),
            time_zone: chrono_tz::Europe::London,
            as_of: "2024-03-30T13:00:00Z".parse().unwrap(),
            items,
        }
    }

    #[test]
    fn values_are_escaped_in_html_and_left_alone_in_text() {
        let mut hostile = item(NoticeKind::Breached, "<b>&\"'");
        hostile.lpa = "<script>alert(1)</script>".into();
        hostile.link = Some("https://case.example/p?a=1&b=\"><script>".into());
        let n = notice(vec![hostile]);
        let html = render_html(&n);
        assert!(html.contains("&lt;b&gt;&amp;&quot;&#39;"), "{html}");
        assert!(!html.contains("<b>&"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("href=\"https://case.example/p?a=1&amp;b=&quot;&gt;&lt;script&gt;\""),
            "{html}"
        );
        let text = render_text(&n);
        assert!(text.contains("  Reference: <b>&\"'\n"), "{text}");
    }

    #[test]
    fn only_web_links_become_links() {
        let mut odd = item(NoticeKind::Breached, "A1");
        odd.link = Some("javascript:alert(1)".into());
        let html = render_html(&notice(vec![odd]));
        assert!(!html.contains("href"), "{html}");
        assert!(
            html.contains("javascript:alert(1)"),
            "shown as text: {html}"
        );
    }

    #[test]
    fn headings_count_in_the_singular_and_the_plural() {
        let n = notice(vec![
            item(NoticeKind::Breached, "A1"),
            item(NoticeKind::Breached, "A2"),
            item(NoticeKind::DueSoon, "B1"),
        ]);
        let text = render_text(&n);
        assert!(
            text.contains("\n2 packages breached their enforcement deadline\n"),
            "{text}"
        );
        assert!(
            text.contains("\n1 package is approaching its enforcement deadline\n"),
            "{text}"
        );
        let html = render_html(&n);
        assert!(html.contains(">2 packages breached their enforcement deadline</h2>"));
        assert!(html.contains(">1 package is approaching its enforcement deadline</h2>"));
    }

    #[test]
    fn time_left_and_overdue_are_measured_from_as_of() {
        let overdue = item(NoticeKind::Breached, "LATE");
        let mut soon = item(NoticeKind::DueSoon, "SOON");
        soon.deadline_at = "2024-03-31T07:00:00Z".parse().unwrap();
        let text = render_text(&notice(vec![overdue, soon]));
        assert!(
            text.contains("  Deadline: 2024-03-28 10:00 GMT, overdue by 2 days 3 hours\n"),
            "{text}"
        );
        // 31 March 2024 is the first day of BST in London.
        assert!(
            text.contains("  Deadline: 2024-03-31 08:00 BST, due in 18 hours\n"),
            "{text}"
        );
    }

    #[test]
    fn safeguarding_items_show_when_the_referral_is_due() {
        let mut referral = item(NoticeKind::SafeguardingOverdue, "SG1");
        referral.referral_due_at = Some("2024-03-30T08:00:00Z".parse().unwrap());
        referral.assigned_officer = None;
        let n = notice(vec![referral]);
        let text = render_text(&n);
        assert!(
            text.contains("  Deadline: 2024-03-28 10:00 GMT\n"),
            "{text}"
        );
        assert!(
            text.contains("  Referral due: 2024-03-30 08:00 GMT, overdue by 5 hours\n"),
            "{text}"
        );
        assert!(
            text.contains("  Assigned officer: not assigned\n"),
            "{text}"
        );
        let html = render_html(&n);
        assert!(html.contains(">Referral due</th>"), "{html}");
        assert!(html.contains("2024-03-30 08:00 GMT<br>"), "{html}");
    }

    #[test]
    fn the_marking_opens_and_closes_both_parts() {
        let n = notice(vec![item(NoticeKind::Breached, "A1")]);
        let text = render_text(&n);
        assert!(text.starts_with("OFFICIAL-SENSITIVE\n"), "{text}");
        assert!(text.ends_with("\nOFFICIAL-SENSITIVE\n"), "{text}");
        let html = render_html(&n);
        let body = html.split("<body").nth(1).unwrap();
        let first_text = body.split("</p>").next().unwrap();
        assert!(first_text.ends_with(">OFFICIAL-SENSITIVE"), "{html}");
        assert!(
            html.trim_end()
                .ends_with("OFFICIAL-SENSITIVE</p>\n</body></html>"),
            "{html}"
        );
    }

    #[test]
    fn each_heading_is_followed_by_what_the_reader_should_do() {
        let kinds = [
            NoticeKind::SafeguardingOverdue,
            NoticeKind::LongOverdue,
            NoticeKind::Breached,
            NoticeKind::SafeguardingDueSoon,
            NoticeKind::DueSoon,
        ];
        let n = notice(
            kinds
                .iter()
                .enumerate()
                .map(|(i, kind)| item(*kind, &format!("P{i}")))
                .collect(),
        );
        let text = render_text(&n);
        let html = render_html(&n);
        for kind in kinds {
            let heading = kind.describe(1);
            assert!(
                text.contains(&format!("\n{heading}\n{}\n\n", kind.action())),
                "{text}"
            );
            assert!(
                html.contains(&format!(
                    ">{heading}</h2>\n<p style=\"{ACTION_STYLE}\">{}</p>",
                    escape(kind.action())
                )),
                "{html}"
            );
        }
        assert!(text.contains("Enforce now, or acknowledge the breach with a note"));
        assert!(text.contains("Make the referral to children's social services"));
    }

    #[test]
    fn nothing_in_the_html_is_wider_than_a_phone() {
        let mut long = item(NoticeKind::Breached, "A1");
        long.link = Some(format!("https://case.example/{}", "x".repeat(200)));
        let html = render_html(&notice(vec![long, item(NoticeKind::DueSoon, "B1")]));
        assert!(!html.contains("min-width"), "{html}");
        for piece in html.split("width").skip(1) {
            let value: String = piece
                .trim_start_matches([':', '=', '"'])
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '%')
                .collect();
            assert!(
                value.ends_with('%') || value.is_empty() || value == "device",
                "a fixed width {value:?} in {html}"
            );
        }
        assert!(html.contains("max-width:100%"), "{html}");
        assert!(html.contains("overflow-wrap:anywhere"), "{html}");
    }

    #[test]
    fn the_message_carries_the_subject_and_both_parts() {
        let n = notice(vec![item(NoticeKind::Breached, "A1")]);
        let from: Mailbox = "OCSET Scheduler <ocset@force.example>".parse().unwrap();
        let to: Mailbox = "sergeant@force.example".parse().unwrap();
        let raw = String::from_utf8(render(&n, &from, &to).formatted()).unwrap();
        assert!(
            raw.contains("Subject: [OFFICIAL-SENSITIVE] OCSET: 1 package breached its"),
            "{raw}"
        );
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("text/plain"), "{raw}");
        assert!(raw.contains("text/html"), "{raw}");
        assert!(raw.contains("@force.example>"), "Message-ID: {raw}");
        assert!(
            raw.contains("\r\nAuto-Submitted: auto-generated\r\n"),
            "{raw}"
        );
    }

    fn digest(text: String, attachment: Option<crate::outbox::Attachment>) -> DigestMail {
        DigestMail {
            digest: "weekly".into(),
            marking: "OFFICIAL-SENSITIVE".into(),
            subject: "[OFFICIAL-SENSITIVE] OCSET weekly performance, week 5 2024".into(),
            html: format!("<p>{text}</p>"),
            text,
            attachment,
        }
    }

    #[test]
    fn line_endings_become_crlf_in_one_pass_as_lettre_would_make_them() {
        assert_eq!(crlf("a\nb\r\nc\n\nd"), "a\r\nb\r\nc\r\n\r\nd");
        assert_eq!(crlf("\nä\n"), "\r\nä\r\n");
        assert_eq!(crlf("no break"), "no break");
        assert_eq!(crlf("lone\rcr"), "lone\rcr");
    }

    #[test]
    fn a_compressed_attachment_goes_as_queued_in_lines_of_76() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(1_000).collect();
        let file = crate::outbox::Attachment::binary(
            "ocset-weekly-2024-W05.csv.gz".into(),
            "application/gzip",
            &bytes,
        );
        let from: Mailbox = "ocset@force.example".parse().unwrap();
        let to: Mailbox = "slt@force.example".parse().unwrap();
        let raw = render_digest(&digest("x\n".into(), Some(file.clone())), &from, &to).formatted();
        let raw = String::from_utf8(raw).unwrap();
        let part = raw
            .split("filename=\"ocset-weekly-2024-W05.csv.gz\"")
            .nth(1)
            .unwrap();
        assert!(part.contains("Content-Transfer-Encoding: base64"), "{raw}");
        let lines: Vec<&str> = part
            .split("\r\n\r\n")
            .nth(1)
            .unwrap()
            .split("\r\n")
            .take_while(|l| !l.starts_with("--"))
            .filter(|l| !l.is_empty())
            .collect();
        assert!(lines.iter().all(|l| l.len() <= 76), "{lines:?}");
        assert_eq!(lines.concat(), file.body);
    }

    #[test]
    fn a_long_digest_renders_in_linear_time() {
        // 200,000 lines (8 MB): lettre's own conversion inserts a CR per
        // line into the whole string, minutes at this size; ours is one
        // pass. A bound on failure, not a benchmark.
        let text: String = (0..200_000)
            .map(|i| format!("line {i:>20} of the list\n"))
            .collect();
        let file = crate::outbox::Attachment::text("a.csv".into(), "text/csv", text.clone());
        let from: Mailbox = "ocset@force.example".parse().unwrap();
        let to: Mailbox = "slt@force.example".parse().unwrap();
        let started = std::time::Instant::now();
        let raw = render_digest(&digest(text, Some(file)), &from, &to).formatted();
        assert!(raw.len() > 3 * 7_000_000, "three copies of the list");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "took {:?}",
            started.elapsed()
        );
    }
}
