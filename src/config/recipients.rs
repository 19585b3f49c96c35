//! `[recipients.NAME]`: named groups of addresses, with lists per LPA, and
//! which LPAs one address hears about through a group.

use crate::domain::LpaCoverage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A named group of recipients: a default list, and lists for LPAs that have
/// their own (Birmingham's sergeants differ from Coventry's).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RecipientGroup {
    /// Addresses for packages of any LPA without a list of its own.
    pub(crate) default: Vec<String>,
    /// Addresses per LPA, replacing the default for that LPA.
    pub(crate) by_lpa: BTreeMap<String, Vec<String>>,
}

impl RecipientGroup {
    /// The addresses for a package in `lpa`.
    pub(crate) fn for_lpa(&self, lpa: &str) -> &[String] {
        self.by_lpa
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(lpa))
            .map_or(self.default.as_slice(), |(_, list)| list.as_slice())
    }

    /// Every address in the group, default and per-LPA lists together,
    /// sorted, each once: who receives a force-wide digest.
    pub(crate) fn addresses(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self
            .default
            .iter()
            .chain(self.by_lpa.values().flatten())
            .map(String::as_str)
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Where the group reaches nobody, given the force's LPA list: `None`
    /// when every LPA has an address; otherwise the words that follow
    /// "is empty" in a fault (`""`, or `" for South, West"`). With no LPA
    /// list any LPA name is accepted, so the default list must not be empty.
    pub(super) fn unreached(&self, force_lpas: &[String]) -> Option<String> {
        if force_lpas.is_empty() {
            return self.default.is_empty().then(String::new);
        }
        let nobody: Vec<&str> = force_lpas
            .iter()
            .map(String::as_str)
            .filter(|lpa| self.for_lpa(lpa).is_empty())
            .collect();
        (!nobody.is_empty()).then(|| format!(" for {}", nobody.join(", ")))
    }
}

/// The LPAs whose packages `address` hears about through `group`, so a
/// digest split per recipient shows each one only their own areas. An
/// LPA with its own list in `by_lpa` goes to that list; every other LPA to
/// the default list. `all_lpas` is the force's LPA list (`force.lpas`);
/// when it is empty, any LPA name exists, so an address in the default
/// list covers every LPA but those with lists of their own.
pub(crate) fn lpas_of(group: &RecipientGroup, address: &str, all_lpas: &[String]) -> LpaCoverage {
    let has = |list: &[String]| list.iter().any(|a| a.eq_ignore_ascii_case(address));
    if all_lpas.is_empty() {
        let (with, without): (Vec<_>, Vec<_>) =
            group.by_lpa.iter().partition(|(_, list)| has(list));
        let names = |lists: Vec<(&String, &Vec<String>)>| -> Vec<String> {
            lists.into_iter().map(|(lpa, _)| lpa.clone()).collect()
        };
        return if has(&group.default) {
            LpaCoverage::AllExcept(names(without))
        } else {
            LpaCoverage::Only(names(with))
        };
    }
    LpaCoverage::Only(
        all_lpas
            .iter()
            .filter(|lpa| has(group.for_lpa(lpa)))
            .cloned()
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_resolve_per_lpa_with_a_default() {
        let group = RecipientGroup {
            default: vec!["all@force.example".into()],
            by_lpa: [(
                "Birmingham".to_string(),
                vec!["bham@force.example".to_string()],
            )]
            .into(),
        };
        assert_eq!(group.for_lpa("birmingham"), ["bham@force.example"]);
        assert_eq!(group.for_lpa("Coventry"), ["all@force.example"]);
    }

    #[test]
    fn an_address_covers_the_lpas_its_lists_cover() {
        let group = RecipientGroup {
            default: vec!["all@force.example".into(), "both@force.example".into()],
            by_lpa: [
                (
                    "Birmingham".to_string(),
                    vec![
                        "bham@force.example".to_string(),
                        "both@force.example".to_string(),
                    ],
                ),
                (
                    "Coventry".to_string(),
                    vec!["cov@force.example".to_string()],
                ),
            ]
            .into(),
        };
        let force: Vec<String> = ["Birmingham", "Coventry", "Dudley", "Walsall"]
            .map(String::from)
            .into();
        let only = |lpas: &[&str]| LpaCoverage::Only(lpas.iter().map(|l| l.to_string()).collect());
        assert_eq!(
            lpas_of(&group, "all@force.example", &force),
            only(&["Dudley", "Walsall"])
        );
        assert_eq!(
            lpas_of(&group, "BHAM@force.example", &force),
            only(&["Birmingham"])
        );
        assert_eq!(
            lpas_of(&group, "both@force.example", &force),
            only(&["Birmingham", "Dudley", "Walsall"])
        );
        assert!(lpas_of(&group, "stranger@force.example", &force).is_empty());
        // No LPA list: any LPA exists, so the default covers all but those
        // with lists of their own.
        let all = lpas_of(&group, "all@force.example", &[]);
        assert_eq!(
            all,
            LpaCoverage::AllExcept(vec!["Birmingham".into(), "Coventry".into()])
        );
        assert!(all.covers("Anywhere") && !all.covers("birmingham"));
        assert_eq!(
            lpas_of(&group, "both@force.example", &[]),
            LpaCoverage::AllExcept(vec!["Coventry".into()])
        );
        assert_eq!(
            lpas_of(&group, "cov@force.example", &[]),
            only(&["Coventry"])
        );
        assert!(LpaCoverage::all().covers("Anywhere"));
        assert_eq!(
            group.addresses(),
            [
                "all@force.example",
                "bham@force.example",
                "both@force.example",
                "cov@force.example"
            ]
        );
    }
}
