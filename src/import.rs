//! Reading a CSV file of packages. The file is checked as a whole before
//! anything is written; every fault is reported with its line and column.

use crate::app::RowError;
use crate::intake::NewPackage;

/// The columns every file must have.
pub(crate) const REQUIRED_COLUMNS: [&str; 6] = [
    "reference",
    "risk_grade",
    "received_at",
    "lpa",
    "stage",
    "assigned_officer",
];
/// The columns a file may add.
pub(crate) const OPTIONAL_COLUMNS: [&str; 2] =
    ["child_access_identified_at", "safeguarding_referral_at"];

fn fault(line: u64, column: Option<&str>, message: impl Into<String>) -> RowError {
    RowError {
        line,
        column: column.map(str::to_string),
        message: message.into(),
    }
}

/// Line numbers of byte offsets, counted here rather than taken from the CSV
/// reader, whose count skips blank lines and whose record positions start
/// before the blank lines it skipped. Offsets are asked for in rising order,
/// so each call counts only the newlines since the last: linear in the file.
struct LineCounter<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            bytes: text.as_bytes(),
            offset: 0,
            line: 1,
        }
    }

    /// The line of the first character at or after `byte` that is not a
    /// line break.
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut end = usize::try_from(byte).map_or(self.bytes.len(), |b| b.min(self.bytes.len()));
        while end < self.bytes.len() && matches!(self.bytes[end], b'\n' | b'\r') {
            end += 1;
        }
        if end < self.offset {
            // Not expected (positions rise), but stay correct if it happens.
            self.offset = 0;
            self.line = 1;
        }
        self.line += self.bytes[self.offset..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        self.offset = end;
        self.line
    }
}

/// Reads the rows of a CSV file: a header row naming the columns (any order,
/// any case), then one package per row. Returns each row with its line
/// number, or every structural fault (encoding, header, row length).
pub(crate) fn read_csv(bytes: &[u8]) -> Result<Vec<(u64, NewPackage)>, Vec<RowError>> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64;
            return Err(vec![fault(
                line,
                None,
                "the file is not UTF-8 text; save it as \"CSV UTF-8 (comma delimited)\" and try again",
            )]);
        }
    };
    // Spreadsheets often start a UTF-8 file with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(vec![fault(
            1,
            None,
            "the file is empty; expected a header row and at least one package",
        )]);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());

    let header: Vec<String> = match reader.headers() {
        Ok(h) => h
            .iter()
            .map(|name| name.trim().to_ascii_lowercase())
            .collect(),
        Err(e) => {
            return Err(vec![fault(
                1,
                None,
                format!("the header row cannot be read: {e}"),
            )])
        }
    };
    let mut errors = Vec::new();
    let index = |name: &str| header.iter().position(|h| h == name);
    for (i, name) in header.iter().enumerate() {
        if !REQUIRED_COLUMNS.contains(&name.as_str()) && !OPTIONAL_COLUMNS.contains(&name.as_str())
        {
            errors.push(fault(
                1,
                Some(name),
                format!(
                    "unknown column {name:?}; the columns are {} and optionally {}",
                    REQUIRED_COLUMNS.join(","),
                    OPTIONAL_COLUMNS.join(",")
                ),
            ));
        } else if header[..i].contains(name) {
            errors.push(fault(1, Some(name), "this column appears twice"));
        }
    }
    for name in REQUIRED_COLUMNS {
        if index(name).is_none() {
            errors.push(fault(
                1,
                Some(name),
                "this column is missing from the header row",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let column = |name: &str| header.iter().position(|h| h == name);
    let (reference, grade, received, lpa, stage, officer) = (
        column("reference").expect("checked"),
        column("risk_grade").expect("checked"),
        column("received_at").expect("checked"),
        column("lpa").expect("checked"),
        column("stage").expect("checked"),
        column("assigned_officer").expect("checked"),
    );
    let (access, referral) = (
        column("child_access_identified_at"),
        column("safeguarding_referral_at"),
    );

    let mut lines = LineCounter::new(text);
    let mut rows = Vec::new();
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
                let get = |i: usize| record.get(i).unwrap_or_default().to_string();
                let optional = |i: Option<usize>| i.map(get).filter(|v| !v.is_empty());
                if record.iter().all(str::is_empty) {
                    continue; // a blank line, as spreadsheets leave at the end
                }
                rows.push((
                    line,
                    NewPackage {
                        reference: get(reference),
                        risk_grade: get(grade),
                        received_at: get(received),
                        lpa: get(lpa),
                        stage: get(stage),
                        assigned_officer: optional(Some(officer)),
                        child_access_identified_at: optional(access),
                        safeguarding_referral_at: optional(referral),
                    },
                ));
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.line_at(p.byte()));
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        format!("this row has {len} fields but the header has {expected_len}")
                    }
                    _ => format!("this row cannot be read: {e}"),
                };
                errors.push(fault(line, None, message));
            }
        }
    }
    if errors.is_empty() && rows.is_empty() {
        errors.push(fault(2, None, "the file has a header row but no packages"));
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "reference,risk_grade,received_at,lpa,stage,assigned_officer";

    #[test]
    fn rows_come_with_their_line_numbers() {
        let text = format!(
            "{HEADER}\nA-1,VH,2024-01-01 10:00,Coventry,awaiting_enforcement,\n\nA-2,Medium,2024-01-02T10:00:00Z,Dudley,intelligence_development,pc@force.police.uk\n"
        );
        let rows = read_csv(text.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, 2);
        assert_eq!(rows[0].1.reference, "A-1");
        assert_eq!(rows[0].1.assigned_officer, None);
        assert_eq!(rows[1].0, 4);
        assert_eq!(
            rows[1].1.assigned_officer.as_deref(),
            Some("pc@force.police.uk")
        );
    }

    #[test]
    fn columns_in_any_order_and_case_with_optional_ones() {
        let text = "Stage,LPA,Reference,Risk_Grade,Received_At,Assigned_Officer,child_access_identified_at\nawaiting_enforcement,Dudley,B-1,high,2024-01-01 10:00,,2024-01-01 12:00\n";
        let rows = read_csv(text.as_bytes()).unwrap();
        assert_eq!(rows[0].1.reference, "B-1");
        assert_eq!(
            rows[0].1.child_access_identified_at.as_deref(),
            Some("2024-01-01 12:00")
        );
        assert_eq!(rows[0].1.safeguarding_referral_at, None);
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let text =
            format!("\u{feff}{HEADER}\nA-1,VH,2024-01-01 10:00,Coventry,awaiting_enforcement,\n");
        assert_eq!(read_csv(text.as_bytes()).unwrap().len(), 1);
    }

    #[test]
    fn header_faults_are_all_reported() {
        let errors =
            read_csv(b"reference,risk grade,received_at,lpa,lpa\nx,y,z,w,v\n").unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            text[0].contains("unknown column \"risk grade\""),
            "{text:?}"
        );
        assert!(
            text[1].contains("column lpa: this column appears twice"),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("column stage: this column is missing")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("column risk_grade: this column is missing")),
            "{text:?}"
        );
    }

    #[test]
    fn ragged_rows_name_their_line() {
        let text =
            format!("{HEADER}\nA-1,VH,2024-01-01 10:00,Coventry,awaiting_enforcement,\nA-2,VH\n");
        let errors = read_csv(text.as_bytes()).unwrap_err();
        assert_eq!(errors[0].line, 3);
        assert!(
            errors[0].message.contains("2 fields but the header has 6"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn not_utf8_empty_and_header_only_files_are_refused() {
        let mut latin1 = format!("{HEADER}\n").into_bytes();
        latin1.extend_from_slice(b"A-1,VH,2024-01-01 10:00,Gr\xfcn,awaiting_enforcement,\n");
        let errors = read_csv(&latin1).unwrap_err();
        assert_eq!(errors[0].line, 2);
        assert!(errors[0].message.contains("not UTF-8"));
        assert!(read_csv(b"").unwrap_err()[0].message.contains("empty"));
        assert!(read_csv(format!("{HEADER}\n").as_bytes()).unwrap_err()[0]
            .message
            .contains("no packages"));
        assert!(read_csv(b"\x00\x01\x02binary").is_err());
    }
}
