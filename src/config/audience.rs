//! Who hears of each escalation level, resolved once at load into outbox
//! [`Destination`]s, so that routing names no channel outside
//! configuration: the scheduler asks [`Settings::audience`] and sends to
//! what it gets.
//!
//! A level's audience is three things: the recipient groups its `notify`
//! list names (email addresses, with lists per LPA), the package's assigned
//! officer when the list names `assigned_officer` (the officer's email
//! address), and every channel subscription that takes the level (each
//! `[[webhook]]` whose `levels` lists it). A new channel that subscribes to
//! levels adds its line to [`subscribers`]; one that reaches group members
//! or officers differently changes [`group_member`] or [`officer`].
//!
//! [`Settings::audience`]: super::Settings::audience

use super::{Config, RecipientGroup, ASSIGNED_OFFICER};
use crate::domain::Package;
use crate::outbox::Destination;
use std::collections::BTreeMap;

/// Who hears of one escalation level, as destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Audience {
    /// The level's recipient groups, each resolved per LPA.
    groups: Vec<GroupDestinations>,
    /// Whether the package's assigned officer hears of it.
    officer: bool,
    /// Destinations that take the level whatever the package (webhooks).
    subscribers: Vec<Destination>,
}

impl Audience {
    /// Where a message about `package` goes: each group's list for the
    /// package's LPA (or the group's default), the assigned officer if the
    /// level names them and one is assigned, and every subscriber. Sorted,
    /// each once.
    pub(crate) fn destinations(&self, package: &Package) -> Vec<Destination> {
        let lpa = package.lpa().as_str();
        let mut to: Vec<Destination> = self
            .groups
            .iter()
            .flat_map(|group| group.for_lpa(lpa).iter().cloned())
            .collect();
        if self.officer {
            to.extend(package.assigned_officer().map(|o| officer(o.as_str())));
        }
        to.extend(self.subscribers.iter().cloned());
        to.sort();
        to.dedup();
        to
    }
}

/// A recipient group as destinations: a default list, and lists for LPAs
/// that have their own.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupDestinations {
    default: Vec<Destination>,
    by_lpa: BTreeMap<String, Vec<Destination>>,
}

impl GroupDestinations {
    fn new(group: &RecipientGroup) -> Self {
        let resolve = |list: &[String]| list.iter().map(|a| group_member(a)).collect();
        Self {
            default: resolve(&group.default),
            by_lpa: group
                .by_lpa
                .iter()
                .map(|(lpa, list)| (lpa.clone(), resolve(list)))
                .collect(),
        }
    }

    /// The list for a package in `lpa`, matched as
    /// [`RecipientGroup::for_lpa`] matches it.
    fn for_lpa(&self, lpa: &str) -> &[Destination] {
        self.by_lpa
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(lpa))
            .map_or(self.default.as_slice(), |(_, list)| list.as_slice())
    }
}

/// Where a member of a recipient group is reached: groups hold email
/// addresses, compared in lower case.
fn group_member(address: &str) -> Destination {
    Destination::Email(address.to_lowercase())
}

/// Where the assigned officer is reached: a package holds their email
/// address (already in lower case).
fn officer(address: &str) -> Destination {
    Destination::Email(address.to_string())
}

/// The destinations that subscribe to `level` on their channel, whatever
/// the package: every `[[webhook]]` that lists it.
fn subscribers(config: &Config, level: &str) -> Vec<Destination> {
    config
        .webhook
        .iter()
        .filter(|hook| hook.levels.iter().any(|l| l == level))
        .map(|hook| Destination::Webhook(hook.name.clone()))
        .collect()
}

/// Every level's audience, by level name. Run on a checked configuration:
/// a group a level names that does not exist reaches nobody (the check
/// reports it), and a subscription to a level not on the ladder is never
/// asked for (the check refuses it too).
pub(super) fn audiences(config: &Config) -> BTreeMap<String, Audience> {
    let mut audiences = BTreeMap::new();
    for level in &config.escalation.levels {
        // The first level of a name wins (the check refuses two).
        audiences
            .entry(level.name.clone())
            .or_insert_with(|| Audience {
                groups: level
                    .notify
                    .iter()
                    .filter(|name| *name != ASSIGNED_OFFICER)
                    .filter_map(|name| config.recipients.get(name))
                    .map(GroupDestinations::new)
                    .collect(),
                officer: level.notify.iter().any(|name| name == ASSIGNED_OFFICER),
                subscribers: subscribers(config, &level.name),
            });
    }
    audiences
}
