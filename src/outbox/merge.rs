//! The merge rule: a scheduler pass's notice for a destination joins the
//! message still waiting, untried, at the end of that destination's queue,
//! so a recipient hears of a burst in one message rather than one a pass.
//!
//! Only a notice joins, only a message no attempt has been made on (what
//! was tried may already have reached the recipient), and only within the
//! pass's transaction: the store reads the tail of the queue and writes the
//! merged notice back in the same transaction that recorded the
//! escalations (`escalation_pass` in `src/store`). This file holds the rule
//! itself, which is pure.

use super::Notice;

impl Notice {
    /// Takes in a newer notice for the same recipient, so that a message
    /// still waiting in the outbox carries everything that fell due since
    /// it was queued, and the recipient gets one message, not one a pass.
    /// A newer line for the same package and clock replaces the older one
    /// (a breach overtakes its warning; the latest figures win); `as_of`
    /// becomes the newer notice's. Notices that differ in marking, force or
    /// time zone are not mixed: the newer one is handed back.
    pub(crate) fn absorb(&mut self, newer: Notice) -> Result<(), Notice> {
        if (&self.marking, &self.force, &self.time_zone)
            != (&newer.marking, &newer.force, &newer.time_zone)
        {
            return Err(newer);
        }
        self.items.retain(|old| {
            !newer
                .items
                .iter()
                .any(|new| new.reference == old.reference && new.kind.clock() == old.kind.clock())
        });
        self.items.extend(newer.items);
        self.as_of = self.as_of.max(newer.as_of);
        self.sort();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::notice::tests::item;
    use crate::outbox::{NoticeItem, NoticeKind};
    use chrono::{DateTime, Utc};

    fn notice(as_of: &str, items: Vec<NoticeItem>) -> Notice {
        Notice {
            marking: "OFFICIAL-SENSITIVE".into(),
            force: "Example Police".into(),
            time_zone: chrono_tz::Europe::London,
            as_of: as_of.parse().unwrap(),
            items,
        }
    }

    #[test]
    fn absorbing_keeps_one_line_per_package_and_clock_newest_first_in_urgency() {
        let mut older = notice(
            "2024-01-10T10:00:00Z",
            vec![
                item(NoticeKind::DueSoon, "A", "2024-01-11T10:00:00Z"),
                item(NoticeKind::DueSoon, "B", "2024-01-12T10:00:00Z"),
                item(NoticeKind::SafeguardingDueSoon, "A", "2024-01-11T10:00:00Z"),
            ],
        );
        let newer = notice(
            "2024-01-11T10:00:00Z",
            vec![
                item(NoticeKind::Breached, "A", "2024-01-11T10:00:00Z"),
                item(NoticeKind::DueSoon, "C", "2024-01-11T12:00:00Z"),
            ],
        );
        older.absorb(newer).expect("same marking, force and zone");
        let lines: Vec<(NoticeKind, &str)> = older
            .items
            .iter()
            .map(|i| (i.kind, i.reference.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (NoticeKind::Breached, "A"),
                (NoticeKind::SafeguardingDueSoon, "A"),
                (NoticeKind::DueSoon, "C"),
                (NoticeKind::DueSoon, "B"),
            ],
            "A's warning gives way to its breach; its safeguarding line stays"
        );
        assert_eq!(
            older.as_of,
            "2024-01-11T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn notices_under_another_marking_are_not_mixed() {
        let mut older = notice("2024-01-10T10:00:00Z", vec![]);
        let mut newer = notice("2024-01-11T10:00:00Z", vec![]);
        newer.marking = "OFFICIAL".into();
        let back = older.absorb(newer.clone()).unwrap_err();
        assert_eq!(back, newer);
        assert_eq!(
            older.as_of,
            "2024-01-10T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
