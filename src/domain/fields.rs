//! The small values a package is made of, each parsed once at the boundary
//! so that a stored package can only hold valid ones.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a field's value was refused. The message is written for a sergeant
/// reading an import report or an API error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// The bidirectional formatting characters: each can make text display in
/// an order other than the one it is stored and compared in (U+202E turns
/// `EX-01` round on screen), so no free text may hold one.
const BIDI_FORMATTING: [char; 12] = [
    '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}',
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
];

/// The first character free text may not hold, if any: a control
/// character (a line break only where `multi_line`), or a bidirectional
/// formatting character. The one rule for every typed text: references,
/// LPAs, officers, reasons and notes.
pub(crate) fn forbidden_char(text: &str, multi_line: bool) -> Option<char> {
    text.chars()
        .find(|&c| (c.is_control() && !(multi_line && c == '\n')) || BIDI_FORMATTING.contains(&c))
}

/// Why `c` (found by [`forbidden_char`]) is refused, in a sergeant's words.
pub(crate) fn why_forbidden(c: char) -> String {
    if BIDI_FORMATTING.contains(&c) {
        format!(
            "contains a bidirectional formatting character (U+{:04X}), which makes text show other than it reads",
            u32::from(c)
        )
    } else {
        "contains a control character".to_string()
    }
}

fn check_text(value: &str, what: &str, max: usize) -> Result<String, Invalid> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Invalid(format!("{what} is empty")));
    }
    match forbidden_char(trimmed, false) {
        Some(c) if c.is_control() => {
            return Err(Invalid(format!(
                "{what} contains a control character (a tab, line break or similar)"
            )))
        }
        Some(c) => return Err(Invalid(format!("{what} {}", why_forbidden(c)))),
        None => {}
    }
    let length = trimmed.chars().count();
    if length > max {
        return Err(Invalid(format!(
            "{what} is {length} characters long; the most is {max}"
        )));
    }
    Ok(trimmed.to_string())
}

/// A package reference, as the case system knows it. Never a name.
///
/// Its shape: 1 to 64 characters, each an ASCII letter or digit or one of
/// [`Reference::PUNCTUATION`] (`-`, `_`, `/`, `.`), the first a letter or
/// digit. So a reference never starts like a spreadsheet formula (`=`, `+`,
/// `-`, `@`), never holds a space, a control or a bidirectional character,
/// and reads the same in a path, a CSV cell and an email. The punctuation is
/// fixed, not configured: every edge (JSON, CSV, path, command line, rows
/// read back) parses without the settings at hand.
///
/// Two references differing only in case are the same package: the store
/// keeps the spelling first given, refuses the other as a duplicate, and
/// finds the package by either.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Reference(String);

impl Reference {
    /// The longest reference accepted.
    pub(crate) const MAX_CHARS: usize = 64;

    /// The characters other than ASCII letters and digits a reference may
    /// hold, never first.
    pub const PUNCTUATION: &'static str = "-_/.";

    /// Parses a reference typed into a CSV cell, a JSON body or the command
    /// line, trimming surrounding spaces first.
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        Self::parse_exact(value.trim())
    }

    /// Parses a reference exactly as given, as in a URL path: surrounding
    /// spaces are refused, not trimmed, so that `EX-01%20` never acts on
    /// `EX-01`.
    pub fn parse_exact(value: &str) -> Result<Self, Invalid> {
        if value.trim() != value {
            return Err(Invalid(
                "the reference has spaces around it; give it exactly".into(),
            ));
        }
        let text = check_text(value, "the reference", Self::MAX_CHARS)?;
        let allowed = |c: char| c.is_ascii_alphanumeric() || Self::PUNCTUATION.contains(c);
        if let Some(c) = text.chars().find(|&c| !allowed(c)) {
            return Err(Invalid(format!(
                "the reference may hold only letters, digits and {} ({c:?} is not allowed)",
                Self::punctuation_in_words()
            )));
        }
        if !text.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(Invalid(
                "the reference must start with a letter or a digit".into(),
            ));
        }
        Ok(Self(text))
    }

    /// A reference read back from storage. Stored references were checked
    /// when written, perhaps under the looser rule of an earlier version
    /// (any text without control or bidirectional characters), which is
    /// what is checked here, so that such a package stays readable.
    pub fn restore(value: &str) -> Result<Self, Invalid> {
        check_text(value, "the reference", Self::MAX_CHARS).map(Self)
    }

    /// [`Self::PUNCTUATION`] for a message: `-, _, / and .`.
    fn punctuation_in_words() -> String {
        let marks: Vec<String> = Self::PUNCTUATION.chars().map(String::from).collect();
        match marks.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => marks.concat(),
        }
    }

    /// The reference as checked.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The reference as the store compares it: ASCII lower case, since two
    /// references differing only in case name one package.
    pub fn folded(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Reference::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A Local Policing Area name. When the force configures a list of LPAs,
/// [`Lpas::parse`] accepts only those, in their configured spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Lpa(String);

impl Lpa {
    /// The LPA's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Lpa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The force's LPAs. Empty means any name is accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lpas(Vec<Lpa>);

impl Lpas {
    /// The longest LPA name accepted.
    pub(crate) const MAX_CHARS: usize = 64;

    /// The configured list; each name must itself be valid and unique.
    pub fn new(names: &[String]) -> Result<Self, Invalid> {
        let mut lpas: Vec<Lpa> = Vec::with_capacity(names.len());
        for name in names {
            let lpa = Lpa(check_text(name, "an LPA name", Self::MAX_CHARS)?);
            if lpas.iter().any(|l| l.0.eq_ignore_ascii_case(&lpa.0)) {
                return Err(Invalid(format!("the LPA {:?} is listed twice", lpa.0)));
            }
            lpas.push(lpa);
        }
        Ok(Self(lpas))
    }

    /// The configured LPAs, in order.
    pub(crate) fn all(&self) -> &[Lpa] {
        &self.0
    }

    /// Parses an LPA name: one of the configured list (any case, returned in
    /// the configured spelling), or any valid name when the list is empty.
    pub(crate) fn parse(&self, value: &str) -> Result<Lpa, Invalid> {
        let name = check_text(value, "the LPA", Self::MAX_CHARS)?;
        if self.0.is_empty() {
            return Ok(Lpa(name));
        }
        self.0
            .iter()
            .find(|lpa| lpa.0.eq_ignore_ascii_case(&name))
            .cloned()
            .ok_or_else(|| {
                let known: Vec<&str> = self.0.iter().map(|l| l.as_str()).collect();
                Invalid(format!(
                    "{name:?} is not one of the force's LPAs ({})",
                    known.join(", ")
                ))
            })
    }

    /// An LPA read back from storage, where it was checked when written.
    pub fn restore(name: String) -> Lpa {
        Lpa(name)
    }
}

/// An officer's work email address, the only thing stored about an officer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct OfficerEmail(String);

impl OfficerEmail {
    /// Parses an address: one `@`, a non-empty local part, a domain with a
    /// dot, no spaces, at most 254 characters. Stored in lower case.
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let text = check_text(value, "the officer's email address", 254)?;
        let bad = || {
            Invalid(format!(
                "{text:?} is not an email address (expected name@force.police.uk)"
            ))
        };
        let (local, domain) = text.split_once('@').ok_or_else(bad)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        let local_ok = !local.is_empty()
            && !local.contains(char::is_whitespace)
            && !local.contains(['<', '>', ',', ';', '"', '(', ')', '[', ']', '\\']);
        if !domain_ok || !local_ok || domain.contains('@') {
            return Err(bad());
        }
        Ok(Self(text.to_lowercase()))
    }

    /// The address as checked, in lower case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OfficerEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for OfficerEmail {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        OfficerEmail::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The years a time typed into the service may fall in, whatever the
/// input (API, CSV, command line): a package, a move or a report week before
/// 2000 or after 2099 is a typing error, not a case.
pub const PLAUSIBLE_YEARS: std::ops::RangeInclusive<i32> = 2000..=2099;

/// Refuses an instant outside [`PLAUSIBLE_YEARS`] or on a leap second
/// (`23:59:60`): chrono keeps a leap second as typed while PostgreSQL
/// stores the next second, so the two backends would disagree.
fn plausible(text: &str, (t, year): (DateTime<Utc>, i32)) -> Result<DateTime<Utc>, Invalid> {
    use chrono::Timelike;
    if t.nanosecond() >= 1_000_000_000 {
        return Err(Invalid(format!(
            "{text} is a leap second (:60); give the second before or after it"
        )));
    }
    if !PLAUSIBLE_YEARS.contains(&year) {
        return Err(Invalid(format!(
            "{text} is not a plausible time: the year must be from {} to {}",
            PLAUSIBLE_YEARS.start(),
            PLAUSIBLE_YEARS.end()
        )));
    }
    Ok(t)
}

/// Reads an instant typed by a person or another system: RFC 3339 with an
/// offset (`2024-03-28T10:00:00Z`, `2024-03-28T10:00:00+01:00`), or
/// `YYYY-MM-DD HH:MM` (seconds optional) read as local time in `tz`. A local
/// time that does not exist or happens twice at a clock change is refused,
/// since guessing could move a deadline by an hour; so is a time outside
/// [`PLAUSIBLE_YEARS`] or on a leap second.
pub fn parse_instant(value: &str, tz: Tz) -> Result<DateTime<Utc>, Invalid> {
    let text = value.trim();
    if text.is_empty() {
        return Err(Invalid("the time is empty".into()));
    }
    parse_any_instant(text, tz).and_then(|t| plausible(text, t))
}

/// Is `text` shaped exactly `YYYY-MM-DD HH:MM` or `YYYY-MM-DD HH:MM:SS`,
/// every field its full width? (chrono alone would also read `2024-1-5 9:00`,
/// which the published API pattern does not admit.)
fn is_local_shape(text: &str) -> bool {
    let shape: &[u8] = match text.len() {
        16 => b"dddd-dd-dd dd:dd",
        19 => b"dddd-dd-dd dd:dd:dd",
        _ => return false,
    };
    text.bytes().zip(shape).all(|(c, &want)| match want {
        b'd' => c.is_ascii_digit(),
        other => c == other,
    })
}

/// [`parse_instant`]'s reading, before the plausibility checks: the
/// instant, and the year as typed (which the plausible range is about,
/// whatever the offset makes of it in UTC).
fn parse_any_instant(text: &str, tz: Tz) -> Result<(DateTime<Utc>, i32), Invalid> {
    use chrono::Datelike;
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok((t.with_timezone(&Utc), t.year()));
    }
    let local = ["%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .filter(|_| is_local_shape(text))
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .ok_or_else(|| {
            Invalid(format!(
                "{text:?} is not a time: expected RFC 3339 with an offset (2024-03-28T10:00:00Z) or local time as YYYY-MM-DD HH:MM"
            ))
        })?;
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => Ok((t.with_timezone(&Utc), local.year())),
        chrono::LocalResult::None => Err(Invalid(format!(
            "{text} does not exist in {} (the clocks went forward past it); give the time with an offset",
            tz.name()
        ))),
        chrono::LocalResult::Ambiguous(..) => Err(Invalid(format!(
            "{text} happened twice in {} (the clocks went back); give the time with an offset, such as +01:00 or +00:00",
            tz.name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::London;

    #[test]
    fn times_outside_the_plausible_years_or_on_a_leap_second_are_refused() {
        for text in [
            "0000-01-01T00:00:00Z",
            "1999-12-31T23:59:59Z",
            "2100-01-01T00:00:00Z",
            "1999-12-31 23:00",
        ] {
            let e = parse_instant(text, London).unwrap_err();
            assert!(
                e.0.contains("the year must be from 2000 to 2099"),
                "{text}: {e}"
            );
        }
        for text in ["2016-12-31T23:59:60Z", "2016-12-31 23:59:60"] {
            let e = parse_instant(text, London).unwrap_err();
            assert!(e.0.contains("leap second"), "{text}: {e}");
        }
        assert!(parse_instant("2000-01-01T00:00:00Z", London).is_ok());
        assert!(parse_instant("2099-12-31T23:59:59Z", London).is_ok());
    }

    #[test]
    fn references_are_trimmed_and_checked() {
        assert_eq!(
            Reference::parse(" NCA-2024-0001 ").unwrap().as_str(),
            "NCA-2024-0001"
        );
        assert!(Reference::parse("").unwrap_err().0.contains("empty"));
        assert!(Reference::parse("   ").is_err());
        assert!(Reference::parse("A\tB")
            .unwrap_err()
            .0
            .contains("control character"));
        assert!(Reference::parse("A\u{7}B").is_err());
        assert!(Reference::parse(&"x".repeat(64)).is_ok());
        let err = Reference::parse(&"x".repeat(65)).unwrap_err();
        assert!(err.0.contains("65 characters"), "{err}");
    }

    #[test]
    fn a_reference_has_one_shape() {
        for good in ["EX-01", "NCA/2024/0001", "a.b_c-d", "7", "D-2"] {
            assert_eq!(Reference::parse(good).unwrap().as_str(), good);
        }
        for formula in [
            "=cmd|' /C calc'!A0",
            "+1",
            "-2",
            "@SUM(A1)",
            "/etc",
            ".x",
            "_x",
        ] {
            let err = Reference::parse(formula).unwrap_err();
            assert!(err.0.contains("reference"), "{formula}: {err}");
        }
        let err = Reference::parse("EX 01").unwrap_err();
        assert!(
            err.0
                .contains("only letters, digits and -, _, / and . (' ' is not allowed)"),
            "{err}"
        );
        assert!(Reference::parse("EX-01\u{e9}").is_err());
        assert!(Reference::parse("\u{202E}").is_err());
        assert!(Reference::parse("EX\u{202E}-01").is_err());
    }

    #[test]
    fn a_path_reference_is_taken_exactly() {
        assert_eq!(Reference::parse_exact("EX-01").unwrap().as_str(), "EX-01");
        for spaced in ["EX-01 ", " EX-01", "EX-01\t", "   "] {
            let err = Reference::parse_exact(spaced).unwrap_err();
            assert!(err.0.contains("spaces around it"), "{spaced:?}: {err}");
        }
        assert_eq!(Reference::parse(" EX-01 ").unwrap().as_str(), "EX-01");
    }

    #[test]
    fn stored_references_of_the_older_rule_read_back() {
        assert_eq!(Reference::restore("NCA 7 #2").unwrap().as_str(), "NCA 7 #2");
        assert!(Reference::restore("A\u{7}B").is_err());
        assert_eq!(Reference::parse("D-2").unwrap().folded(), "d-2");
    }

    #[test]
    fn lpas_accept_the_configured_list_in_any_case() {
        let lpas = Lpas::new(&["Birmingham".into(), "Coventry".into()]).unwrap();
        assert_eq!(lpas.parse("birmingham").unwrap().as_str(), "Birmingham");
        let err = lpas.parse("Gotham").unwrap_err();
        assert!(
            err.0.contains("\"Gotham\"") && err.0.contains("Coventry"),
            "{err}"
        );
        let open = Lpas::default();
        assert_eq!(open.parse("Anywhere").unwrap().as_str(), "Anywhere");
        assert!(open.parse("").is_err());
        assert!(Lpas::new(&["A".into(), "a".into()]).is_err());
    }

    #[test]
    fn officer_emails() {
        assert_eq!(
            OfficerEmail::parse("PC.Smith@Force.Police.UK")
                .unwrap()
                .as_str(),
            "pc.smith@force.police.uk"
        );
        for bad in [
            "",
            "smith",
            "smith@",
            "@force.uk",
            "smith@force",
            "a b@force.uk",
            "a@b@c.uk",
            "a@force..uk",
            "<a>@force.uk",
        ] {
            assert!(OfficerEmail::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn instants_in_rfc3339_or_local_time() {
        let z = parse_instant("2024-03-28T10:00:00Z", London).unwrap();
        assert_eq!(z.to_rfc3339(), "2024-03-28T10:00:00+00:00");
        let offset = parse_instant("2024-06-01T10:00:00+01:00", London).unwrap();
        assert_eq!(offset.to_rfc3339(), "2024-06-01T09:00:00+00:00");
        let winter = parse_instant("2024-01-15 10:00", London).unwrap();
        assert_eq!(winter.to_rfc3339(), "2024-01-15T10:00:00+00:00");
        let summer = parse_instant("2024-07-15 10:00", London).unwrap();
        assert_eq!(summer.to_rfc3339(), "2024-07-15T09:00:00+00:00");
        let seconds = parse_instant("2024-07-15 10:00:30", London).unwrap();
        assert_eq!(seconds.to_rfc3339(), "2024-07-15T09:00:30+00:00");
    }

    #[test]
    fn local_times_at_clock_changes_are_refused() {
        let gap = parse_instant("2024-03-31 01:30", London).unwrap_err();
        assert!(gap.0.contains("does not exist"), "{gap}");
        let twice = parse_instant("2024-10-27 01:30", London).unwrap_err();
        assert!(twice.0.contains("happened twice"), "{twice}");
        // With an offset the same wall time is fine.
        assert!(parse_instant("2024-10-27T01:30:00+01:00", London).is_ok());
    }

    #[test]
    fn malformed_times_name_the_value() {
        for bad in [
            "yesterday",
            "2024-13-01 10:00",
            "2024-02-30 10:00",
            "28/03/2024 10:00",
            "2024-03-28",
        ] {
            let err = parse_instant(bad, London).unwrap_err();
            assert!(err.0.contains(bad), "{err}");
        }
        assert!(parse_instant("", London).unwrap_err().0.contains("empty"));
    }
}
