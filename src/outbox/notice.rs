//! What a notification says: one message for one recipient, listing every
//! package that fell due for them in one scheduler pass, most urgent first.
//! Rendered to email (HTML and plain text) and to webhooks from this one
//! model. It carries only what a reader needs to act: no names, no case
//! detail beyond reference, grade, LPA, stage, times and officer.

use crate::domain::{PackageClock, RiskGrade, Stage};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What an item tells the reader, in order of urgency (most urgent first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A safeguarding referral is overdue (the safeguarding clock passed).
    SafeguardingOverdue,
    /// The enforcement deadline passed some time ago (a level after it).
    LongOverdue,
    /// The enforcement deadline has been reached.
    Breached,
    /// A risk review is overdue (the review clock passed).
    ReviewOverdue,
    /// A safeguarding referral will soon be due.
    SafeguardingDueSoon,
    /// The enforcement deadline is approaching (a level before it).
    DueSoon,
    /// A risk review will soon be due (a review level before it).
    ReviewDueSoon,
}

impl NoticeKind {
    /// Which of the package's clocks the item is about.
    pub(crate) fn clock(self) -> PackageClock {
        match self {
            NoticeKind::SafeguardingOverdue | NoticeKind::SafeguardingDueSoon => {
                PackageClock::Safeguarding
            }
            NoticeKind::LongOverdue | NoticeKind::Breached | NoticeKind::DueSoon => {
                PackageClock::Enforcement
            }
            NoticeKind::ReviewOverdue | NoticeKind::ReviewDueSoon => PackageClock::Review,
        }
    }

    /// The words for `count` packages of this kind, as used in a subject:
    /// "2 packages breached their enforcement deadline".
    pub fn describe(self, count: usize) -> String {
        let (one, many) = match self {
            NoticeKind::SafeguardingOverdue => (
                "package has an overdue safeguarding referral",
                "packages have an overdue safeguarding referral",
            ),
            NoticeKind::LongOverdue => (
                "package is well past its enforcement deadline",
                "packages are well past their enforcement deadline",
            ),
            NoticeKind::Breached => (
                "package breached its enforcement deadline",
                "packages breached their enforcement deadline",
            ),
            NoticeKind::SafeguardingDueSoon => (
                "package has a safeguarding referral due soon",
                "packages have a safeguarding referral due soon",
            ),
            NoticeKind::DueSoon => (
                "package is approaching its enforcement deadline",
                "packages are approaching their enforcement deadline",
            ),
            NoticeKind::ReviewOverdue => (
                "package has an overdue risk review",
                "packages have an overdue risk review",
            ),
            NoticeKind::ReviewDueSoon => (
                "package has a risk review due soon",
                "packages have a risk review due soon",
            ),
        };
        format!("{count} {}", if count == 1 { one } else { many })
    }
}

impl NoticeKind {
    /// What the reader should do about packages of this kind, in one
    /// sentence: the first thing a notice says under each heading.
    pub fn action(self) -> &'static str {
        match self {
            NoticeKind::SafeguardingOverdue => {
                "Make the referral to children's social services now, and record when it was made."
            }
            NoticeKind::SafeguardingDueSoon => {
                "Make the referral to children's social services before it is due, and record when it was made."
            }
            NoticeKind::LongOverdue => {
                "Review the breach: find out why the package is still not enforced and decide what happens next."
            }
            NoticeKind::Breached => {
                "Enforce now, or acknowledge the breach with a note saying why enforcement waits."
            }
            NoticeKind::DueSoon => {
                "Plan the enforcement before the deadline, and assign an officer to any package without one."
            }
            NoticeKind::ReviewOverdue => {
                "Review the package's risk now: confirm or change its grade, and record the review."
            }
            NoticeKind::ReviewDueSoon => {
                "Review the package's risk before it is due, and record the review."
            }
        }
    }
}

/// One package in a notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeItem {
    /// What this line says.
    pub kind: NoticeKind,
    /// The escalation level's name ("warning", "breach", "senior"...).
    pub level: String,
    /// Which repeat of the level this is (0 for the first).
    pub occurrence: u32,
    /// The package's reference.
    pub reference: String,
    /// Its grade.
    pub risk_grade: RiskGrade,
    /// Its LPA.
    pub lpa: String,
    /// Its stage.
    pub stage: Stage,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// The enforcement deadline.
    pub deadline_at: DateTime<Utc>,
    /// For safeguarding items, when the referral is (or was) due.
    pub referral_due_at: Option<DateTime<Utc>>,
    /// For review items, when the review is (or was) due. Absent from
    /// notices queued before reviews existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_due_at: Option<DateTime<Utc>>,
    /// The assigned officer's address, if assigned.
    pub assigned_officer: Option<String>,
    /// A link to the package in the case system, from `links.package_url`.
    pub link: Option<String>,
}

impl NoticeItem {
    /// The instant this item is measured against: the referral due time for
    /// safeguarding items, the review due time for review items, else the
    /// enforcement deadline.
    pub(crate) fn due_at(&self) -> DateTime<Utc> {
        match self.kind.clock() {
            PackageClock::Safeguarding => self.referral_due_at.unwrap_or(self.deadline_at),
            PackageClock::Review => self.review_due_at.unwrap_or(self.deadline_at),
            PackageClock::Enforcement => self.deadline_at,
        }
    }
}

/// One message for one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The protective marking, such as `OFFICIAL-SENSITIVE`.
    pub marking: String,
    /// The force's name.
    pub force: String,
    /// The force's time zone, for showing times to people; stored in the
    /// outbox as its IANA name ("Europe/London").
    pub time_zone: chrono_tz::Tz,
    /// When the scheduler pass that made this notice ran ("now" for time
    /// left and overdue-by figures).
    pub as_of: DateTime<Utc>,
    /// The packages, most urgent first.
    pub items: Vec<NoticeItem>,
}

impl Notice {
    /// Orders items most urgent first: by kind, then the most overdue (the
    /// earliest due instant), then grade, then reference.
    pub fn sort(&mut self) {
        self.items.sort_by(|a, b| {
            (a.kind, a.due_at(), a.risk_grade, &a.reference).cmp(&(
                b.kind,
                b.due_at(),
                b.risk_grade,
                &b.reference,
            ))
        });
    }

    /// The subject line: the marking, then what the items say, most urgent
    /// kind first. `[OFFICIAL-SENSITIVE] OCSET: 2 packages breached their
    /// enforcement deadline; 1 package is approaching its enforcement deadline`.
    pub fn subject(&self) -> String {
        let mut counts: Vec<(NoticeKind, usize)> = Vec::new();
        for item in &self.items {
            match counts.iter_mut().find(|(k, _)| *k == item.kind) {
                Some((_, n)) => *n += 1,
                None => counts.push((item.kind, 1)),
            }
        }
        counts.sort();
        let parts: Vec<String> = counts.iter().map(|(k, n)| k.describe(*n)).collect();
        format!("[{}] OCSET: {}", self.marking, parts.join("; "))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::outbox) fn item(kind: NoticeKind, reference: &str, due: &str) -> NoticeItem {
        NoticeItem {
            kind,
            level: "breach".into(),
            occurrence: 0,
            reference: reference.into(),
            risk_grade: RiskGrade::High,
            lpa: "Dudley".into(),
            stage: Stage::AwaitingEnforcement,
            received_at: "2024-01-01T10:00:00Z".parse().unwrap(),
            deadline_at: due.parse().unwrap(),
            referral_due_at: None,
            review_due_at: None,
            assigned_officer: None,
            link: None,
        }
    }

    #[test]
    fn subjects_count_each_kind_most_urgent_first() {
        let mut notice = Notice {
            marking: "OFFICIAL-SENSITIVE".into(),
            force: "Example Police".into(),
            time_zone: chrono_tz::Europe::London,
            as_of: "2024-01-10T10:00:00Z".parse().unwrap(),
            items: vec![
                item(NoticeKind::DueSoon, "C", "2024-01-11T10:00:00Z"),
                item(NoticeKind::Breached, "B", "2024-01-09T10:00:00Z"),
                item(NoticeKind::Breached, "A", "2024-01-08T10:00:00Z"),
            ],
        };
        notice.sort();
        let order: Vec<&str> = notice.items.iter().map(|i| i.reference.as_str()).collect();
        assert_eq!(order, ["A", "B", "C"], "most overdue first");
        assert_eq!(
            notice.subject(),
            "[OFFICIAL-SENSITIVE] OCSET: 2 packages breached their enforcement deadline; 1 package is approaching its enforcement deadline"
        );
    }
}
