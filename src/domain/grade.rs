//! Risk grades, as yielded by the national risk-assessment tool (KIRAT).

use serde::{Deserialize, Serialize};

/// The risk grade of an intelligence package. Ordered most urgent first, so
/// `VeryHigh < High < Medium < Standard` in `Ord` terms.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RiskGrade {
    /// Enforcement within 48 hours by default.
    VeryHigh,
    /// Enforcement within 7 days by default.
    High,
    /// Enforcement within 21 days by default.
    Medium,
    /// Enforcement within 60 days by default.
    Standard,
}

/// A value that is not one of the risk grades.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{value:?} is not a risk grade: expected one of {}",
    RiskGrade::name_list(", ")
)]
pub struct UnknownRiskGrade {
    /// The value as given.
    pub(crate) value: String,
}

impl RiskGrade {
    /// Every grade, most urgent first. Everything that shows or counts
    /// per grade (reports, the position, help and error text, the policy
    /// hash) iterates over this, so a new grade is added here, in the
    /// enum and its matches, and nowhere else in the code.
    pub const ALL: [RiskGrade; 4] = [
        RiskGrade::VeryHigh,
        RiskGrade::High,
        RiskGrade::Medium,
        RiskGrade::Standard,
    ];

    /// The snake_case name used in JSON, configuration and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskGrade::VeryHigh => "very_high",
            RiskGrade::High => "high",
            RiskGrade::Medium => "medium",
            RiskGrade::Standard => "standard",
        }
    }

    /// The name a person reads ("Very high").
    pub fn label(self) -> &'static str {
        match self {
            RiskGrade::VeryHigh => "Very high",
            RiskGrade::High => "High",
            RiskGrade::Medium => "Medium",
            RiskGrade::Standard => "Standard",
        }
    }

    /// The colour charts draw this grade in: most urgent darkest. It is
    /// here, with the label, so that a new grade brings its own colour and
    /// the renderers need not name any grade.
    pub(crate) fn chart_colour(self) -> &'static str {
        match self {
            RiskGrade::VeryHigh => "#7a0000",
            RiskGrade::High => "#d04000",
            RiskGrade::Medium => "#e0a000",
            RiskGrade::Standard => "#4a7ab0",
        }
    }

    /// Every grade's snake_case name, most urgent first, joined by `", "`
    /// and by `last` before the final one: with `" or "`,
    /// `"very_high, high, medium or standard"`. For help and error text,
    /// so that it lists whatever grades exist.
    pub(crate) fn name_list(last: &str) -> String {
        let names: Vec<&str> = RiskGrade::ALL.iter().map(|g| g.as_str()).collect();
        match names.split_last() {
            Some((final_name, [])) => final_name.to_string(),
            Some((final_name, rest)) => format!("{}{last}{final_name}", rest.join(", ")),
            None => String::new(),
        }
    }

    /// True when `self` is a more urgent grade than `other`.
    pub(crate) fn is_more_urgent_than(self, other: RiskGrade) -> bool {
        self < other
    }

    /// Reads the spellings people type in spreadsheets: the snake_case name,
    /// "Very High", "very-high", "VH", "H", "M", "S", in any case.
    pub(crate) fn parse_lenient(value: &str) -> Result<Self, UnknownRiskGrade> {
        let folded: String = value
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '_'))
            .flat_map(char::to_lowercase)
            .collect();
        match folded.as_str() {
            "veryhigh" | "vh" => Ok(RiskGrade::VeryHigh),
            "high" | "h" => Ok(RiskGrade::High),
            "medium" | "m" => Ok(RiskGrade::Medium),
            "standard" | "s" => Ok(RiskGrade::Standard),
            _ => Err(UnknownRiskGrade {
                value: value.to_string(),
            }),
        }
    }
}

named_by_as_str!(RiskGrade, UnknownRiskGrade);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_names_round_trip_for_every_grade() {
        for grade in RiskGrade::ALL {
            assert_eq!(grade.as_str().parse::<RiskGrade>(), Ok(grade));
            let json = serde_json::to_string(&grade).unwrap();
            assert_eq!(json, format!("\"{}\"", grade.as_str()));
            assert_eq!(serde_json::from_str::<RiskGrade>(&json).unwrap(), grade);
        }
    }

    #[test]
    fn strict_parse_refuses_spreadsheet_spellings() {
        assert!("Very High".parse::<RiskGrade>().is_err());
        assert!("VH".parse::<RiskGrade>().is_err());
    }

    #[test]
    fn lenient_parse_reads_spreadsheet_spellings() {
        let cases = [
            ("Very High", RiskGrade::VeryHigh),
            ("very-high", RiskGrade::VeryHigh),
            ("VERY_HIGH", RiskGrade::VeryHigh),
            ("VH", RiskGrade::VeryHigh),
            ("vh", RiskGrade::VeryHigh),
            ("high", RiskGrade::High),
            ("High", RiskGrade::High),
            ("H", RiskGrade::High),
            ("Medium", RiskGrade::Medium),
            ("m", RiskGrade::Medium),
            ("Standard", RiskGrade::Standard),
            (" standard ", RiskGrade::Standard),
        ];
        for (text, grade) in cases {
            assert_eq!(RiskGrade::parse_lenient(text), Ok(grade), "{text}");
        }
    }

    #[test]
    fn lenient_parse_names_the_bad_value() {
        let err = RiskGrade::parse_lenient("urgent").unwrap_err();
        assert_eq!(err.value, "urgent");
        assert!(err.to_string().contains("\"urgent\""));
        assert!(RiskGrade::parse_lenient("").is_err());
        assert!(RiskGrade::parse_lenient("low").is_err());
    }

    /// Pins today's text byte for byte (a new grade rightly changes it).
    #[test]
    fn the_name_list_names_every_grade_in_order() {
        assert_eq!(
            RiskGrade::name_list(", "),
            "very_high, high, medium, standard"
        );
        assert_eq!(
            RiskGrade::name_list(" or "),
            "very_high, high, medium or standard"
        );
        assert_eq!(
            RiskGrade::parse_lenient("urgent").unwrap_err().to_string(),
            "\"urgent\" is not a risk grade: expected one of very_high, high, medium, standard"
        );
    }

    #[test]
    fn urgency_order_is_very_high_first() {
        assert!(RiskGrade::VeryHigh.is_more_urgent_than(RiskGrade::High));
        assert!(RiskGrade::High.is_more_urgent_than(RiskGrade::Medium));
        assert!(RiskGrade::Medium.is_more_urgent_than(RiskGrade::Standard));
        assert!(!RiskGrade::Standard.is_more_urgent_than(RiskGrade::Standard));
    }
}
