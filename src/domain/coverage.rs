//! Which LPAs one recipient of a digest hears about. Configuration works it
//! out from the recipient groups (`config::lpas_of`); the daily report is
//! cut to it, so each sergeant sees only their own areas.

use serde::Serialize;

/// The LPAs an address hears about through one recipient group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LpaCoverage {
    /// Every LPA but these (which have lists of their own without the
    /// address). Only arises when the force has no LPA list, so the LPAs
    /// cannot be named; `AllExcept(vec![])` is every LPA.
    AllExcept(Vec<String>),
    /// These LPAs only; empty when the address is not in the group.
    Only(Vec<String>),
}

impl LpaCoverage {
    /// Coverage of every LPA: `AllExcept` with nothing excepted.
    pub(crate) fn all() -> Self {
        LpaCoverage::AllExcept(Vec::new())
    }

    /// Whether packages of `lpa` are covered (LPA names match in any case,
    /// as everywhere else).
    pub(crate) fn covers(&self, lpa: &str) -> bool {
        let listed = |list: &[String]| list.iter().any(|l| l.eq_ignore_ascii_case(lpa));
        match self {
            LpaCoverage::AllExcept(except) => !listed(except),
            LpaCoverage::Only(only) => listed(only),
        }
    }

    /// True when no LPA is covered.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, LpaCoverage::Only(only) if only.is_empty())
    }
}
