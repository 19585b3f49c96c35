//! Retention (issue 16): how long a stopped package's identifying details
//! are kept ([`RetentionPeriod`], `[retention] keep_stopped_for`), and the
//! keyed pseudonyms that replace them ([`PseudonymKey`]), with the text
//! scrubbing that finds them in messages. Pure: the key is handed in, the
//! instant is an argument.

use chrono::{DateTime, Months, TimeZone, Utc};
use chrono_tz::Tz;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// What replaces a purged package's free text (notes, reasons for a
/// regrade): the text itself may name people or places, so nothing of it
/// is kept.
pub const PURGED_TEXT: &str = "(purged)";

/// What every reference pseudonym starts with: a valid reference (letters,
/// digits, `-`), told apart from the force's own at a glance.
pub const PSEUDONYM_PREFIX: &str = "purged-";

/// The domain of the officers' pseudonymous addresses (`.invalid` is
/// reserved: no mail can ever reach it).
pub const PSEUDONYM_DOMAIN: &str = "purged.invalid";

/// The fewest bytes a pseudonym key may have: HMAC-SHA256's own strength.
pub const MIN_KEY_BYTES: usize = 32;

/// A unit of a retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionUnit {
    /// Calendar days in the force time zone.
    Days,
    /// Weeks of seven calendar days.
    Weeks,
    /// Calendar months.
    Months,
    /// Calendar years.
    Years,
}

/// How long after its clock stopped a package's identifying details are
/// kept: `30d`, `8w`, `18m`, `6y` (calendar units in the force time zone,
/// as the deadlines count days). Between 1 day and 100 years.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPeriod {
    amount: u32,
    unit: RetentionUnit,
}

/// The longest period accepted: anything longer is a typing error.
const MAX_YEARS: u32 = 100;

impl std::str::FromStr for RetentionPeriod {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let explain = || {
            format!(
                "{text:?} is not a retention period: a whole number and a unit, d (days), \
                 w (weeks), m (months) or y (years), such as \"6y\" or \"30d\""
            )
        };
        let split = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(explain)?;
        let (digits, unit) = trimmed.split_at(split);
        let amount: u32 = digits.parse().map_err(|_| explain())?;
        let unit = match unit {
            "d" => RetentionUnit::Days,
            "w" => RetentionUnit::Weeks,
            "m" => RetentionUnit::Months,
            "y" => RetentionUnit::Years,
            "h" => {
                return Err(format!(
                    "{text:?} is in hours: retention is counted in days (d), weeks (w), \
                     months (m) or years (y)"
                ))
            }
            _ => return Err(explain()),
        };
        if amount == 0 {
            return Err(format!(
                "{text:?} would purge packages the moment their clock stops: give at least 1 day"
            ));
        }
        let years = match unit {
            RetentionUnit::Days => amount / 365,
            RetentionUnit::Weeks => amount / 52,
            RetentionUnit::Months => amount / 12,
            RetentionUnit::Years => amount,
        };
        if years > MAX_YEARS {
            return Err(format!(
                "{text:?} is more than {MAX_YEARS} years: leave the key out to keep everything"
            ));
        }
        Ok(Self { amount, unit })
    }
}

impl fmt::Display for RetentionPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.unit {
            RetentionUnit::Days => 'd',
            RetentionUnit::Weeks => 'w',
            RetentionUnit::Months => 'm',
            RetentionUnit::Years => 'y',
        };
        write!(f, "{}{unit}", self.amount)
    }
}

impl RetentionPeriod {
    /// The instant before which a stopped clock is past the period at
    /// `now`: `now` in the force time zone, less the period in calendar
    /// units (the 29th of February less a year is the 28th). A package
    /// whose clock stopped strictly before it is purged.
    pub fn cutoff(&self, now: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
        let local = now.with_timezone(&zone).naive_local();
        let months = |n: u32| local.checked_sub_months(Months::new(n));
        let earlier = match self.unit {
            RetentionUnit::Days => local.checked_sub_days(chrono::Days::new(self.amount.into())),
            RetentionUnit::Weeks => {
                local.checked_sub_days(chrono::Days::new(u64::from(self.amount) * 7))
            }
            RetentionUnit::Months => months(self.amount),
            RetentionUnit::Years => months(self.amount * 12),
        }
        .unwrap_or(chrono::NaiveDateTime::MIN);
        // In a clock change's gap or repeated hour, the earlier reading:
        // a package is kept a little longer, never purged early.
        zone.from_local_datetime(&earlier)
            .earliest()
            .or_else(|| {
                zone.from_local_datetime(&(earlier - chrono::Duration::hours(1)))
                    .earliest()
            })
            .map_or(DateTime::<Utc>::MIN_UTC, |at| at.with_timezone(&Utc))
    }
}

/// The secret key of the pseudonyms: HMAC-SHA256 over what is replaced,
/// so the same package (and the same officer) always gets the same
/// pseudonym, and without the key a pseudonym cannot be traced back, even
/// by trying every reference.
#[derive(Clone)]
pub struct PseudonymKey(Vec<u8>);

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PseudonymKey(..)")
    }
}

impl PseudonymKey {
    /// A key of at least [`MIN_KEY_BYTES`] bytes.
    pub fn new(bytes: Vec<u8>) -> Result<Self, String> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the key has {} bytes; it needs at least {MIN_KEY_BYTES} (make one with \
                 `openssl rand -hex 32`)",
                bytes.len()
            ));
        }
        Ok(Self(bytes))
    }

    fn mac(&self, purpose: &str, value: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(value.to_lowercase().as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The pseudonym of a reference, whatever its case (`D-2` and `d-2`
    /// are one package): `purged-` and 128 bits of the HMAC in hex, itself
    /// a valid reference.
    pub fn reference(&self, reference: &str) -> String {
        format!(
            "{PSEUDONYM_PREFIX}{}",
            &self.mac("reference", reference)[..32]
        )
    }

    /// The pseudonym of an officer's address: `officer-<hex>@purged.invalid`,
    /// a valid address no mail can reach.
    pub fn officer(&self, address: &str) -> String {
        format!(
            "officer-{}@{PSEUDONYM_DOMAIN}",
            &self.mac("officer", address)[..24]
        )
    }
}

/// Replaces in `text` every whole occurrence of each `(found, by)` pair,
/// ignoring ASCII case: an occurrence counts only when the characters
/// around it could not continue it (so `D-1` is not found inside `D-10`,
/// and is found in `D-1.` at the end of a sentence). Returns `None` when
/// nothing was found.
pub fn scrub(text: &str, replacements: &[(String, String)]) -> Option<String> {
    let mut current: Option<String> = None;
    for (found, by) in replacements {
        if found.is_empty() {
            continue;
        }
        let source = current.as_deref().unwrap_or(text);
        if let Some(replaced) = replace_whole(source, found, by) {
            current = Some(replaced);
        }
    }
    current
}

/// A character that may continue a reference or an address.
fn continues(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'/' | b'@' | b'%' | b'+')
}

fn replace_whole(text: &str, found: &str, by: &str) -> Option<String> {
    let haystack = text.as_bytes();
    let needle = found.as_bytes();
    if needle.len() > haystack.len() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut i = 0;
    let mut any = false;
    while i + needle.len() <= haystack.len() {
        let candidate = &haystack[i..i + needle.len()];
        if candidate.eq_ignore_ascii_case(needle) {
            let before_ok = i == 0 || !(continues(haystack[i - 1]) || haystack[i - 1] == b'.');
            let end = i + needle.len();
            let after_ok = match haystack.get(end) {
                None => true,
                // A dot ends a sentence unless a reference character follows.
                Some(b'.') => !haystack.get(end + 1).copied().is_some_and(continues),
                Some(&c) => !continues(c),
            };
            // Only at character boundaries (the needle is ASCII, so both
            // ends are boundaries when the text around is valid UTF-8).
            if before_ok && after_ok && text.is_char_boundary(i) && text.is_char_boundary(end) {
                out.push_str(&text[last..i]);
                out.push_str(by);
                last = end;
                i = end;
                any = true;
                continue;
            }
        }
        i += 1;
    }
    if !any {
        return None;
    }
    out.push_str(&text[last..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PseudonymKey {
        PseudonymKey::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap()
    }

    #[test]
    fn periods_parse_print_and_refuse_nonsense_saying_why() {
        for text in ["6y", "30d", "8w", "18m", "1d", "100y"] {
            let period: RetentionPeriod = text.parse().unwrap();
            assert_eq!(period.to_string(), text);
        }
        for (text, why) in [
            ("", "not a retention period"),
            ("6", "not a retention period"),
            ("y", "not a retention period"),
            ("6 years", "not a retention period"),
            ("-1y", "not a retention period"),
            ("0d", "at least 1 day"),
            ("48h", "in hours"),
            ("101y", "more than 100 years"),
            ("99999999999d", "not a retention period"),
        ] {
            let error = text.parse::<RetentionPeriod>().unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
        }
    }

    #[test]
    fn the_cutoff_counts_calendar_units_in_the_force_time_zone() {
        let zone: Tz = "Europe/London".parse().unwrap();
        let now: DateTime<Utc> = "2030-07-01T09:00:00Z".parse().unwrap();
        let six_years: RetentionPeriod = "6y".parse().unwrap();
        // 10:00 BST on 1 July 2024 is 09:00 UTC.
        assert_eq!(
            six_years.cutoff(now, zone),
            "2024-07-01T09:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        // 10:00 BST in July, less 30 days in winter time... still 10:00 local.
        let winter: DateTime<Utc> = "2030-11-15T10:00:00Z".parse().unwrap();
        let thirty: RetentionPeriod = "30d".parse().unwrap();
        assert_eq!(
            thirty.cutoff(winter, zone),
            "2030-10-16T09:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        // A leap day less a year.
        let leap: DateTime<Utc> = "2028-02-29T12:00:00Z".parse().unwrap();
        let year: RetentionPeriod = "1y".parse().unwrap();
        assert_eq!(
            year.cutoff(leap, zone),
            "2027-02-28T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn pseudonyms_are_stable_keyed_case_blind_and_valid() {
        let key = key();
        let p = key.reference("NCA-2024-001");
        assert_eq!(p, key.reference("nca-2024-001"));
        assert!(p.starts_with(PSEUDONYM_PREFIX) && p.len() == 39, "{p}");
        assert!(crate::domain::Reference::restore(&p).is_ok());
        assert_ne!(p, key.reference("NCA-2024-002"));
        let other = PseudonymKey::new(vec![7; 32]).unwrap();
        assert_ne!(p, other.reference("NCA-2024-001"), "the key matters");
        let officer = key.officer("PC.Smith@force.police.uk");
        assert_eq!(officer, key.officer("pc.smith@force.police.uk"));
        assert!(crate::domain::OfficerEmail::parse(&officer).is_ok());
        assert!(!officer.contains("smith"));
        assert!(PseudonymKey::new(vec![1; 31])
            .unwrap_err()
            .contains("at least 32"));
        assert_eq!(format!("{key:?}"), "PseudonymKey(..)");
    }

    #[test]
    fn scrub_replaces_whole_occurrences_only() {
        let pairs = vec![("D-1".to_string(), "X".to_string())];
        assert_eq!(
            scrub("see D-1, d-1. and D-1", &pairs).unwrap(),
            "see X, X. and X"
        );
        assert_eq!(scrub("D-10 and AD-1 and D-1.5 and D-1/2", &pairs), None);
        assert_eq!(
            scrub("\"reference\":\"D-1\"", &pairs).unwrap(),
            "\"reference\":\"X\""
        );
        assert_eq!(scrub("<td>D-1</td>", &pairs).unwrap(), "<td>X</td>");
        let mail = vec![("a@b.uk".to_string(), "o@p.invalid".to_string())];
        assert_eq!(scrub("to A@b.uk.", &mail).unwrap(), "to o@p.invalid.");
        assert_eq!(scrub("ba@b.uk", &mail), None);
    }
}
