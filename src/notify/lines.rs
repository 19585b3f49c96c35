//! The words of a notice, shared by every rendering (email text and HTML,
//! Teams, Slack) so they all say the same thing: a heading per run of items
//! of one kind, and per package its reference, grade, LPA, stage, times in
//! the force's time zone, how long is left or how long overdue, officer and
//! link. Nothing else from the package goes out.

use crate::outbox::{Notice, NoticeItem, NoticeKind};
use crate::text::describe_duration;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// The line under the marking that says whose notice this is and when.
pub(crate) fn introduction(notice: &Notice) -> String {
    format!(
        "{}: OCSET escalation as of {}",
        notice.force,
        local_time(notice.as_of, notice.time_zone)
    )
}

/// `2024-03-28 10:00 GMT`: a local time with its zone's abbreviation, so a
/// reader can tell GMT from BST.
pub(crate) fn local_time(instant: DateTime<Utc>, tz: Tz) -> String {
    instant
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// "overdue by 2 days 3 hours", "due in 18 hours" or "due now": `due`
/// measured from `as_of`, to the minute.
pub(crate) fn relative(due: DateTime<Utc>, as_of: DateTime<Utc>) -> String {
    let span = due - as_of;
    if span.num_minutes() == 0 {
        "due now".into()
    } else if span.num_minutes() < 0 {
        format!("overdue by {}", describe_duration(span))
    } else {
        format!("due in {}", describe_duration(span))
    }
}

/// Runs of consecutive items of one kind, in the order given, each with its
/// heading ("2 packages breached their enforcement deadline").
pub(crate) fn groups(items: &[NoticeItem]) -> Vec<(NoticeKind, String, &[NoticeItem])> {
    items
        .chunk_by(|a, b| a.kind == b.kind)
        .map(|run| (run[0].kind, run[0].kind.describe(run.len()), run))
        .collect()
}

/// One package as a reader sees it: every value already in words.
pub(crate) struct PackageLine {
    pub(crate) reference: String,
    pub(crate) grade: &'static str,
    pub(crate) lpa: String,
    pub(crate) stage: &'static str,
    pub(crate) received: String,
    pub(crate) deadline: String,
    /// For safeguarding items: when the referral is or was due.
    pub(crate) referral_due: Option<String>,
    /// For review items: when the review is or was due.
    pub(crate) review_due: Option<String>,
    /// Time left or overdue, measured to the instant the item is about
    /// (the referral for safeguarding items, else the deadline).
    pub(crate) relative: String,
    /// True when that instant has passed.
    pub(crate) overdue: bool,
    pub(crate) officer: String,
    pub(crate) link: Option<String>,
}

impl PackageLine {
    /// The line for `item`, with times in `tz` and measured from `as_of`.
    pub(crate) fn new(item: &NoticeItem, tz: Tz, as_of: DateTime<Utc>) -> Self {
        let safeguarding = matches!(
            item.kind,
            NoticeKind::SafeguardingOverdue | NoticeKind::SafeguardingDueSoon
        );
        let due = item.due_at();
        Self {
            reference: item.reference.clone(),
            grade: item.risk_grade.label(),
            lpa: item.lpa.clone(),
            stage: item.stage.label(),
            received: local_time(item.received_at, tz),
            deadline: local_time(item.deadline_at, tz),
            referral_due: item
                .referral_due_at
                .filter(|_| safeguarding)
                .map(|at| local_time(at, tz)),
            review_due: item
                .review_due_at
                .filter(|_| item.kind.clock() == crate::domain::PackageClock::Review)
                .map(|at| local_time(at, tz)),
            relative: relative(due, as_of),
            overdue: due < as_of,
            officer: item
                .assigned_officer
                .clone()
                .unwrap_or_else(|| "not assigned".into()),
            link: item.link.clone(),
        }
    }

    /// The line as `(label, value)` pairs for the plain renderings, the
    /// time left or overdue beside the instant it is measured to.
    pub(crate) fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("Reference", self.reference.clone()),
            ("Risk grade", self.grade.to_string()),
            ("LPA", self.lpa.clone()),
            ("Stage", self.stage.to_string()),
            ("Received", self.received.clone()),
        ];
        match (&self.referral_due, &self.review_due) {
            (Some(referral), _) => {
                fields.push(("Deadline", self.deadline.clone()));
                fields.push(("Referral due", format!("{referral}, {}", self.relative)));
            }
            (None, Some(review)) => {
                fields.push(("Deadline", self.deadline.clone()));
                fields.push(("Review due", format!("{review}, {}", self.relative)));
            }
            (None, None) => {
                fields.push(("Deadline", format!("{}, {}", self.deadline, self.relative)))
            }
        }
        fields.push(("Assigned officer", self.officer.clone()));
        if let Some(link) = &self.link {
            fields.push(("Link", link.clone()));
        }
        fields
    }
}

/// Every item of `notice` as lines, in order.
pub(crate) fn package_lines(notice: &Notice, items: &[NoticeItem]) -> Vec<PackageLine> {
    let tz = notice.time_zone;
    items
        .iter()
        .map(|item| PackageLine::new(item, tz, notice.as_of))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn relative_times_say_overdue_by_or_due_in() {
        let now = at("2024-03-30T13:00:00Z");
        assert_eq!(
            relative(now - Duration::days(2) - Duration::hours(3), now),
            "overdue by 2 days 3 hours"
        );
        assert_eq!(relative(now + Duration::hours(18), now), "due in 18 hours");
        assert_eq!(relative(now + Duration::hours(1), now), "due in 1 hour");
        assert_eq!(relative(now - Duration::days(1), now), "overdue by 1 day");
        assert_eq!(
            relative(now - Duration::minutes(1), now),
            "overdue by 1 minute"
        );
        assert_eq!(relative(now + Duration::seconds(30), now), "due now");
    }

    #[test]
    fn local_times_follow_the_clock_change() {
        let london = chrono_tz::Europe::London;
        assert_eq!(
            local_time(at("2024-03-28T10:00:00Z"), london),
            "2024-03-28 10:00 GMT"
        );
        assert_eq!(
            local_time(at("2024-04-02T09:00:00Z"), london),
            "2024-04-02 10:00 BST"
        );
    }
}
