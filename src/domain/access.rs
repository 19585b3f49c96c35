//! Who may do what through the API: roles, each including the one before.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A token's role. Ordered: each role can do all that the ones before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads packages, status and reports.
    Viewer,
    /// Also creates and updates packages (grade, stage, safeguarding).
    Intake,
    /// Also assigns packages and acknowledges breaches.
    Supervisor,
    /// Every role's rights, and the administrative ones beyond them.
    Admin,
}

/// A value that is not a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a role: expected one of viewer, intake, supervisor, admin")]
pub struct UnknownRole {
    /// The value as given.
    pub(crate) value: String,
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Intake, Role::Supervisor, Role::Admin];

    /// The snake_case name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Intake => "intake",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    /// True when this role may do what `needed` may.
    pub(crate) fn includes(self, needed: Role) -> bool {
        self >= needed
    }
}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == value.trim().to_ascii_lowercase())
            .ok_or_else(|| UnknownRole {
                value: value.to_string(),
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_includes_the_ones_before_it() {
        assert!(Role::Admin.includes(Role::Supervisor));
        assert!(Role::Supervisor.includes(Role::Intake));
        assert!(Role::Intake.includes(Role::Viewer));
        assert!(Role::Viewer.includes(Role::Viewer));
        assert!(!Role::Viewer.includes(Role::Intake));
        assert!(!Role::Intake.includes(Role::Supervisor));
        assert!(!Role::Supervisor.includes(Role::Admin));
    }

    #[test]
    fn roles_parse_by_name() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!("Intake".parse::<Role>(), Ok(Role::Intake));
        assert!("root"
            .parse::<Role>()
            .unwrap_err()
            .to_string()
            .contains("\"root\""));
    }
}
