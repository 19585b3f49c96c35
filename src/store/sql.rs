//! The building blocks of the store's SQL: the column list every package
//! read shares, compile-time joining of statement parts, numbered
//! placeholders for multi-row statements, and values bound to statements
//! built at run time. The statements themselves live with the code that
//! runs them (`packages.rs`, `outbox.rs`, ...); what differs by backend
//! lives in `sqlite.rs` and `postgres.rs` (see [`super::Dialect`]).
//!
//! sqlx reads `$1`-style placeholders on SQLite as well as on PostgreSQL, and
//! the shared statements keep to SQL both dialects accept (`ON CONFLICT`,
//! `RETURNING`, `substr`, `length`).

use chrono::{DateTime, Utc};

/// The columns of `packages` that [`super::rows::PackageRow`] reads, in its
/// field order. Statements are built from it with [`join`] at compile time.
pub(crate) const PACKAGE_ROW_COLUMNS: &str =
    "id, reference, risk_grade, stage, lpa, assigned_officer, received_at, \
     deadline_at, clock_started_at, policy_version, stage_since, clock_stopped_at, \
     outcome, child_access_identified_at, safeguarding_referral_at, acknowledged_at, \
     acknowledged_by, acknowledgement_note, acknowledged_deadline_at, acknowledgement_reason, \
     review_clock_started_at";

/// The length of `parts` joined: the `N` of [`join`].
pub(crate) const fn joined_len(parts: &[&str]) -> usize {
    let mut len = 0;
    let mut i = 0;
    while i < parts.len() {
        len += parts[i].len();
        i += 1;
    }
    len
}

/// `parts` joined end to end, at compile time, so that a statement built
/// from shared pieces is still one named `const` (`concat!` takes only
/// literals). Used as
/// `{ const PARTS: &[&str] = &[...]; as_str(&join::<{ joined_len(PARTS) }>(PARTS)) }`.
pub(crate) const fn join<const N: usize>(parts: &[&str]) -> [u8; N] {
    let mut joined = [0; N];
    let mut at = 0;
    let mut i = 0;
    while i < parts.len() {
        let bytes = parts[i].as_bytes();
        let mut j = 0;
        while j < bytes.len() {
            joined[at] = bytes[j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    assert!(at == N, "N must be joined_len(parts)");
    joined
}

/// The text [`join`] made (always UTF-8: it joins `str`s whole).
pub(crate) const fn as_str(joined: &'static [u8]) -> &'static str {
    match std::str::from_utf8(joined) {
        Ok(text) => text,
        Err(_) => panic!("joined str parts are UTF-8"),
    }
}

/// References per `IN (...)` look-up: a few hundred round trips for a large
/// import's check, far below either backend's limit on parameters.
pub(crate) const LOOKUP_CHUNK: usize = 500;

/// `$first, $first+1, ...`: `n` numbered placeholders, for an `IN (...)`
/// list built at run time.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    let list: Vec<String> = (first..first + n).map(|i| format!("${i}")).collect();
    list.join(", ")
}

/// `($1, $2, ...), (...)`: `rows` groups of `per_row` numbered placeholders,
/// each group ending with the placeholders in `shared`, which number values
/// bound once, before all the rows' values.
pub(crate) fn values_groups(rows: usize, per_row: usize, shared: &[usize]) -> String {
    let leading = shared.iter().copied().max().unwrap_or(0);
    let mut text = String::with_capacity(rows * (per_row * 6 + shared.len() * 6 + 4));
    for row in 0..rows {
        if row > 0 {
            text.push_str(", ");
        }
        text.push('(');
        let first = leading + row * per_row + 1;
        for n in first..first + per_row {
            if n > first {
                text.push_str(", ");
            }
            text.push('$');
            text.push_str(&n.to_string());
        }
        for n in shared {
            text.push_str(", $");
            text.push_str(&n.to_string());
        }
        text.push(')');
    }
    text
}

/// A value bound to a statement built at run time. Times are bound as
/// `DateTime<Utc>`, never as text: PostgreSQL compares them as
/// `TIMESTAMPTZ`, and on SQLite sqlx encodes them exactly as it wrote the
/// stored ones, so the text comparison there is a time comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BindValue<'a> {
    /// A text value.
    Text(&'a str),
    /// An instant, already cut to the stored precision.
    Instant(DateTime<Utc>),
    /// An integer (a row limit).
    Integer(i64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_groups_number_every_placeholder_once_and_repeat_shared_ones() {
        assert_eq!(values_groups(2, 3, &[]), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(
            values_groups(2, 2, &[1, 1]),
            "($2, $3, $1, $1), ($4, $5, $1, $1)"
        );
    }

    #[test]
    fn join_puts_the_parts_end_to_end() {
        const PARTS: &[&str] = &["SELECT ", "id", " FROM packages"];
        const JOINED: &str = as_str(&join::<{ joined_len(PARTS) }>(PARTS));
        assert_eq!(JOINED, "SELECT id FROM packages");
    }
}
