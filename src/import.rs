//! Reading a CSV file of packages, streamed: one record in memory at a
//! time, each row or fault with its line. The app checks every row before
//! anything is written (`App::import`); every fault is reported with its
//! line and column.

use crate::app::RowError;
use crate::intake::{HistoryFields, NewPackage};
use std::collections::VecDeque;
use std::io::Read;

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

/// The columns a history file (`import --history`) must have besides
/// [`REQUIRED_COLUMNS`]; empty in the rows of open packages.
pub(crate) const HISTORY_REQUIRED_COLUMNS: [&str; 2] = ["clock_stopped_at", "outcome"];

/// The column a history file may add besides [`OPTIONAL_COLUMNS`].
pub(crate) const HISTORY_OPTIONAL_COLUMNS: [&str; 1] = ["awaiting_enforcement_at"];

fn fault(line: u64, column: Option<&str>, message: impl Into<String>) -> RowError {
    RowError {
        line,
        column: column.map(str::to_string),
        message: message.into(),
    }
}

/// The reader under the CSV parser: passes the file's bytes on (without a
/// leading byte-order mark, which spreadsheets often write) and, as they
/// pass, checks that they are UTF-8 and notes where the line breaks are, so
/// that each record's line can be told without holding the file.
///
/// Line numbers are counted here rather than taken from the CSV reader,
/// whose count skips blank lines and whose record positions start before
/// the blank lines it skipped. Only the breaks past the last record asked
/// about are kept: the parser reads at most one buffer ahead of the record
/// it returns, so they are few.
struct Tracked<R> {
    inner: R,
    /// Bytes passed on so far (after the byte-order mark).
    offset: u64,
    /// Whether the start (and a byte-order mark there) has been seen.
    started: bool,
    /// Positions of `\n` (true) and `\r` (false) not yet counted.
    breaks: VecDeque<(u64, bool)>,
    /// The line at `counted_to`.
    line: u64,
    counted_to: u64,
    /// Line breaks passed on so far, for the line of a byte that is not UTF-8.
    newlines: u64,
    /// The end of a UTF-8 sequence cut by a read, kept for the next.
    carry: Vec<u8>,
    scratch: Vec<u8>,
    /// The line of the first byte that is not UTF-8, once seen.
    not_utf8: Option<u64>,
    /// Whether every byte so far is whitespace.
    blank: bool,
}

/// How a UTF-8 byte-order mark is written.
const BYTE_ORDER_MARK: &[u8] = b"\xef\xbb\xbf";

impl<R: Read> Tracked<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            offset: 0,
            started: false,
            breaks: VecDeque::new(),
            line: 1,
            counted_to: 0,
            newlines: 0,
            carry: Vec::new(),
            scratch: Vec::new(),
            not_utf8: None,
            blank: true,
        }
    }

    /// The line of the first character at or after `byte` that is not a
    /// line break. Asked in rising order of `byte`.
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut end = byte.max(self.counted_to);
        // Every break before `end` is counted; one at `end` moves `end` on.
        while let Some(&(at, newline)) = self.breaks.front() {
            if at > end {
                break;
            }
            if at == end {
                end += 1;
            }
            self.line += u64::from(newline);
            self.breaks.pop_front();
        }
        self.counted_to = end;
        self.line
    }

    /// Checks `bytes` (the next ones passed on) as UTF-8, with the carry
    /// from the last read; `end` when there are no more.
    fn check_utf8(&mut self, bytes: &[u8], end: bool) {
        if self.not_utf8.is_some() {
            return;
        }
        self.scratch.clear();
        self.scratch.append(&mut self.carry);
        self.scratch.extend_from_slice(bytes);
        if let Err(e) = std::str::from_utf8(&self.scratch) {
            let valid = e.valid_up_to();
            if e.error_len().is_some() || end {
                // The newlines before the bad byte, counted from the
                // bytes not yet counted in `newlines`.
                let carried = self.scratch.len() - bytes.len();
                let before = valid.saturating_sub(carried);
                let counted = bytes[..before].iter().filter(|b| **b == b'\n').count() as u64;
                self.not_utf8 = Some(self.newlines + 1 + counted);
            } else {
                // A sequence cut at the end of this read.
                self.carry.extend_from_slice(&self.scratch[valid..]);
            }
        }
    }
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = self.inner.read(buf)?;
        if !self.started && n > 0 {
            self.started = true;
            // The first read of a buffered file holds the whole mark.
            if buf[..n].starts_with(BYTE_ORDER_MARK) {
                buf.copy_within(BYTE_ORDER_MARK.len()..n, 0);
                n -= BYTE_ORDER_MARK.len();
            }
        }
        let bytes = &buf[..n];
        self.check_utf8(bytes, n == 0);
        for (i, byte) in bytes.iter().enumerate() {
            match byte {
                b'\n' => self.breaks.push_back((self.offset + i as u64, true)),
                b'\r' => self.breaks.push_back((self.offset + i as u64, false)),
                _ => {}
            }
        }
        self.newlines += bytes.iter().filter(|b| **b == b'\n').count() as u64;
        self.blank = self.blank && bytes.iter().all(u8::is_ascii_whitespace);
        self.offset += n as u64;
        Ok(n)
    }
}

/// Where each column of a file is.
#[derive(Debug, Clone, Copy)]
struct Columns {
    reference: usize,
    risk_grade: usize,
    received_at: usize,
    lpa: usize,
    stage: usize,
    assigned_officer: usize,
    child_access_identified_at: Option<usize>,
    safeguarding_referral_at: Option<usize>,
    clock_stopped_at: Option<usize>,
    outcome: Option<usize>,
    awaiting_enforcement_at: Option<usize>,
}

/// How far through the file a [`CsvRows`] is.
#[derive(Debug, Clone, Copy)]
enum Reading {
    Header,
    Rows(Columns),
    Done,
}

/// The rows of a CSV file, read as they are asked for: a header row naming
/// the columns (any order, any case), then one package per row. Yields each
/// row with its line number, and each structural fault (encoding, header,
/// row length) where it is found; holds one record at a time, whatever
/// the file's size.
pub(crate) struct CsvRows<R: Read> {
    reader: csv::Reader<Tracked<R>>,
    reading: Reading,
    /// Faults found together (the header's), to hand out one by one.
    pending: VecDeque<RowError>,
    record: csv::StringRecord,
    /// Rows and faults handed out, for "a header row but no packages".
    yielded: u64,
    /// Whether the history columns are taken (`import --history`).
    history: bool,
}

impl<R: Read> CsvRows<R> {
    /// The rows of the CSV text `input` will give (a file through a
    /// [`std::io::BufReader`], or bytes in memory).
    pub(crate) fn new(input: R) -> Self {
        Self {
            reader: csv::ReaderBuilder::new()
                .has_headers(true)
                .flexible(false)
                .trim(csv::Trim::All)
                .from_reader(Tracked::new(input)),
            reading: Reading::Header,
            pending: VecDeque::new(),
            record: csv::StringRecord::new(),
            yielded: 0,
            history: false,
        }
    }

    /// The rows of a history file: as [`Self::new`], also taking the
    /// history columns ([`HISTORY_REQUIRED_COLUMNS`],
    /// [`HISTORY_OPTIONAL_COLUMNS`]). Read through [`HistoryRows`].
    pub(crate) fn history(input: R) -> HistoryRows<R> {
        let mut rows = Self::new(input);
        rows.history = true;
        HistoryRows(rows)
    }

    /// The fault of a file that is not UTF-8, if it is not; ends the reading.
    fn not_utf8(&mut self) -> Option<RowError> {
        let line = self.reader.get_ref().not_utf8?;
        self.reading = Reading::Done;
        self.pending.clear();
        Some(fault(
            line,
            None,
            "the file is not UTF-8 text; save it as \"CSV UTF-8 (comma delimited)\" and try again",
        ))
    }

    /// Reads and checks the header row; queues its faults.
    fn read_header(&mut self) {
        self.reading = Reading::Done;
        let header: Vec<String> = match self.reader.headers() {
            Ok(h) => h
                .iter()
                .map(|name| name.trim().to_ascii_lowercase())
                .collect(),
            Err(e) => {
                self.pending.push_back(fault(
                    1,
                    None,
                    format!("the header row cannot be read: {e}"),
                ));
                return;
            }
        };
        if header.iter().all(String::is_empty) {
            // Nothing but blank lines so far: an empty file, unless
            // something follows.
            let mut rest = csv::ByteRecord::new();
            while let Ok(true) = self.reader.read_byte_record(&mut rest) {}
            if self.reader.get_ref().blank {
                self.pending.push_back(fault(
                    1,
                    None,
                    "the file is empty; expected a header row and at least one package",
                ));
                return;
            }
        }
        let index = |name: &str| header.iter().position(|h| h == name);
        let history = self.history;
        let required: Vec<&str> = REQUIRED_COLUMNS
            .iter()
            .chain(if history {
                &HISTORY_REQUIRED_COLUMNS[..]
            } else {
                &[]
            })
            .copied()
            .collect();
        let optional: Vec<&str> = OPTIONAL_COLUMNS
            .iter()
            .chain(if history {
                &HISTORY_OPTIONAL_COLUMNS[..]
            } else {
                &[]
            })
            .copied()
            .collect();
        for (i, name) in header.iter().enumerate() {
            if !required.contains(&name.as_str()) && !optional.contains(&name.as_str()) {
                let hint = if !history
                    && (HISTORY_REQUIRED_COLUMNS.contains(&name.as_str())
                        || HISTORY_OPTIONAL_COLUMNS.contains(&name.as_str()))
                {
                    " (a file of packages whose clock has stopped is imported with --history)"
                } else {
                    ""
                };
                self.pending.push_back(fault(
                    1,
                    Some(name),
                    format!(
                        "unknown column {name:?}; the columns are {} and optionally {}{hint}",
                        required.join(","),
                        optional.join(",")
                    ),
                ));
            } else if header[..i].contains(name) {
                self.pending
                    .push_back(fault(1, Some(name), "this column appears twice"));
            }
        }
        for name in required {
            if index(name).is_none() {
                self.pending.push_back(fault(
                    1,
                    Some(name),
                    "this column is missing from the header row",
                ));
            }
        }
        if !self.pending.is_empty() {
            return;
        }
        let required = |name: &str| index(name).expect("checked above");
        self.reading = Reading::Rows(Columns {
            reference: required("reference"),
            risk_grade: required("risk_grade"),
            received_at: required("received_at"),
            lpa: required("lpa"),
            stage: required("stage"),
            assigned_officer: required("assigned_officer"),
            child_access_identified_at: index("child_access_identified_at"),
            safeguarding_referral_at: index("safeguarding_referral_at"),
            clock_stopped_at: index("clock_stopped_at"),
            outcome: index("outcome"),
            awaiting_enforcement_at: index("awaiting_enforcement_at"),
        });
    }

    /// The next row or fault of the body, or `None` at the end.
    fn read_row(
        &mut self,
        columns: Columns,
    ) -> Option<Result<(u64, NewPackage, HistoryFields), RowError>> {
        loop {
            let read = self.reader.read_record(&mut self.record);
            if let Some(fault) = self.not_utf8() {
                return Some(Err(fault));
            }
            match read {
                Ok(false) => {
                    self.reading = Reading::Done;
                    return (self.yielded == 0)
                        .then(|| Err(fault(2, None, "the file has a header row but no packages")));
                }
                Ok(true) => {
                    let record = &self.record;
                    if record.iter().all(str::is_empty) {
                        continue; // a blank line, as spreadsheets leave at the end
                    }
                    let line = record
                        .position()
                        .map_or(0, |p| self.reader.get_mut().line_at(p.byte()));
                    let record = &self.record;
                    let get = |i: usize| record.get(i).unwrap_or_default().to_string();
                    let optional = |i: Option<usize>| i.map(get).filter(|v| !v.is_empty());
                    return Some(Ok((
                        line,
                        NewPackage {
                            reference: get(columns.reference),
                            risk_grade: get(columns.risk_grade),
                            received_at: get(columns.received_at),
                            lpa: get(columns.lpa),
                            stage: get(columns.stage),
                            assigned_officer: optional(Some(columns.assigned_officer)),
                            child_access_identified_at: optional(
                                columns.child_access_identified_at,
                            ),
                            safeguarding_referral_at: optional(columns.safeguarding_referral_at),
                        },
                        HistoryFields {
                            clock_stopped_at: optional(columns.clock_stopped_at),
                            outcome: optional(columns.outcome),
                            awaiting_enforcement_at: optional(columns.awaiting_enforcement_at),
                        },
                    )));
                }
                Err(e) => {
                    let line = e
                        .position()
                        .map_or(0, |p| self.reader.get_mut().line_at(p.byte()));
                    let message = match e.kind() {
                        csv::ErrorKind::UnequalLengths {
                            expected_len, len, ..
                        } => {
                            format!("this row has {len} fields but the header has {expected_len}")
                        }
                        csv::ErrorKind::Io(e) => format!("the file cannot be read here: {e}"),
                        _ => format!("this row cannot be read: {e}"),
                    };
                    if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                        self.reading = Reading::Done;
                    }
                    return Some(Err(fault(line, None, message)));
                }
            }
        }
    }
}

impl<R: Read> CsvRows<R> {
    /// The next row (with its history fields, empty unless this is a
    /// history file) or fault.
    fn next_row(&mut self) -> Option<Result<(u64, NewPackage, HistoryFields), RowError>> {
        if let Reading::Header = self.reading {
            self.read_header();
            if let Some(fault) = self.not_utf8() {
                self.yielded += 1;
                return Some(Err(fault));
            }
        }
        let next = match self.pending.pop_front() {
            Some(fault) => Some(Err(fault)),
            None => match self.reading {
                Reading::Rows(columns) => self.read_row(columns),
                Reading::Header | Reading::Done => None,
            },
        };
        self.yielded += u64::from(next.is_some());
        next
    }
}

impl<R: Read> Iterator for CsvRows<R> {
    type Item = Result<(u64, NewPackage), RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_row()
            .map(|row| row.map(|(line, package, _)| (line, package)))
    }
}

/// The rows of a history file, each with its history fields
/// ([`CsvRows::history`]).
pub(crate) struct HistoryRows<R: Read>(CsvRows<R>);

impl<R: Read> Iterator for HistoryRows<R> {
    type Item = Result<(u64, NewPackage, HistoryFields), RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next_row()
    }
}

/// Every row of a CSV file in memory, or every fault: the whole file read
/// at once, for files known to be small.
#[cfg(test)]
pub(crate) fn read_csv(bytes: &[u8]) -> Result<Vec<(u64, NewPackage)>, Vec<RowError>> {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for row in CsvRows::new(bytes) {
        match row {
            Ok(row) => rows.push(row),
            Err(fault) => errors.push(fault),
        }
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
    fn a_history_file_reads_its_history_columns_and_a_plain_import_refuses_them() {
        let text = format!(
            "{HEADER},clock_stopped_at,outcome,awaiting_enforcement_at\nA-1,VH,2024-01-01 10:00,Coventry,enforced,,2024-01-02 10:00,arrest,2024-01-01 12:00\nA-2,VH,2024-01-01 10:00,Coventry,awaiting_enforcement,,,,\n"
        );
        let rows: Vec<_> = CsvRows::history(text.as_bytes())
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows[0].0, 2);
        assert_eq!(
            rows[0].2,
            HistoryFields {
                clock_stopped_at: Some("2024-01-02 10:00".into()),
                outcome: Some("arrest".into()),
                awaiting_enforcement_at: Some("2024-01-01 12:00".into()),
            }
        );
        assert_eq!(rows[1].2, HistoryFields::default());

        let errors = read_csv(text.as_bytes()).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0]
                .to_string()
                .contains("unknown column \"clock_stopped_at\"")
                && errors[0].to_string().contains("imported with --history"),
            "{}",
            errors[0]
        );

        // The history columns a history file cannot do without.
        let errors: Vec<RowError> = CsvRows::history(
            format!("{HEADER}\nA-1,VH,2024-01-01 10:00,Coventry,enforced,\n").as_bytes(),
        )
        .filter_map(Result::err)
        .collect();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "line 1, column clock_stopped_at: this column is missing from the header row",
                "line 1, column outcome: this column is missing from the header row",
            ]
        );
    }

    /// A reader that hands out at most `step` bytes a read, as a slow
    /// file or pipe may.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn lines_are_right_when_the_file_arrives_in_small_reads() {
        // CRLF endings, blank lines, a quoted field over two lines, and a
        // multi-byte character cut across reads.
        let mut text = format!("{HEADER}\r\n");
        let mut expected = Vec::new();
        let mut line = 2;
        for i in 0..3_000 {
            if i % 97 == 0 {
                text.push_str("\r\n\r\n");
                line += 2;
            }
            let lpa = if i % 101 == 0 {
                "\"Cov\nentry\""
            } else {
                "Coventry"
            };
            text.push_str(&format!(
                "A-{i},VH,2024-01-01 10:00,{lpa},awaiting_enforcement,é@x.uk\r\n"
            ));
            expected.push(line);
            line += if i % 101 == 0 { 2 } else { 1 };
        }
        for step in [1, 3, 7, 4096] {
            let rows: Vec<u64> = CsvRows::new(Trickle {
                bytes: text.as_bytes(),
                step,
            })
            .map(|row| row.unwrap().0)
            .collect();
            assert_eq!(rows, expected, "reads of {step} bytes");
        }
    }

    #[test]
    fn a_bad_byte_far_into_the_file_is_found_with_its_line() {
        let mut bytes = format!("{HEADER}\n").into_bytes();
        for i in 0..5_000 {
            bytes.extend_from_slice(
                format!("A-{i},VH,2024-01-01 10:00,Coventry,awaiting_enforcement,\n").as_bytes(),
            );
        }
        bytes.extend_from_slice(b"A-x,VH,2024-01-01 10:00,Gr\xfcn,awaiting_enforcement,\n");
        let faults: Vec<RowError> = CsvRows::new(Trickle {
            bytes: &bytes,
            step: 8192,
        })
        .filter_map(Result::err)
        .collect();
        assert_eq!(faults.len(), 1, "{faults:?}");
        assert_eq!(faults[0].line, 5_002);
        assert!(faults[0].message.contains("not UTF-8"));
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
