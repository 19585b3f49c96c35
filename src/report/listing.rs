//! How long a list of packages an email's body may be. A digest's body
//! lists at most [`DIGEST_LIST_LIMIT`] lines of each list (the most overdue
//! breaches, the soonest due), then says how many more there are and where
//! the full list is: the attached file, or a link when the list is too long
//! to attach. The renderings take an optional [`ListCap`]; without one
//! (`digest preview`, the tests of the formats) they list everything.

use super::html::CELL;
use crate::text::esc;

/// The most lines of one list a digest's body shows: the 50 most overdue
/// breaches (the weekly report; each LPA's in the daily list), the 50
/// soonest due (each LPA's), the 50 most overdue risk reviews. Enough for a
/// reader to act on today; the rest are in the attachment or behind the
/// link the line under the list gives.
pub const DIGEST_LIST_LIMIT: usize = 50;

/// A cap on every list a rendering shows, and where the full lists are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCap {
    /// The most lines of each list shown.
    pub limit: usize,
    /// Where every line is.
    pub rest: FullList,
}

/// Where a digest's full list is, for the line under a cut list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FullList {
    /// In the file attached to the email, by its name.
    Attached(String),
    /// Too long to attach: where it is instead, in words ("it is at
    /// https://…"); a web address in them becomes a link in the HTML.
    TooLong(String),
}

impl FullList {
    /// "the full list is in the attached file ocset-weekly-2024-W05.csv.gz".
    pub fn words(&self) -> String {
        match self {
            Self::Attached(file) => format!("the full list is in the attached file {file}"),
            Self::TooLong(place) => format!("the full list is too long to attach; {place}"),
        }
    }
}

impl ListCap {
    /// The lines of `list` to show: all of them without a cap, else the
    /// first `limit` (lists are in order, most urgent first).
    pub fn shown<'a, T>(cap: Option<&Self>, list: &'a [T]) -> &'a [T] {
        match cap {
            Some(cap) if list.len() > cap.limit => &list[..cap.limit],
            _ => list,
        }
    }

    /// The line under a list of `total` cut by `cap`, in plain text:
    /// "… and 12,345 more; the full list is in the attached file
    /// ocset-daily-2024-03-05.csv.gz." None when nothing was left out.
    pub fn more_text(cap: Option<&Self>, total: usize) -> Option<String> {
        let cap = cap.filter(|cap| total > cap.limit)?;
        Some(format!(
            "… and {} more; {}.",
            grouped(total - cap.limit),
            cap.rest.words()
        ))
    }

    /// The same line as a table row across `columns` columns, the link (if
    /// any) a link.
    pub fn more_row(cap: Option<&Self>, total: usize, columns: usize) -> Option<String> {
        let text = Self::more_text(cap, total)?;
        // Web addresses become links; the rest is text.
        let html = esc(&text)
            .split(' ')
            .map(|word| {
                let address = word.trim_end_matches(['.', ',']);
                if address.starts_with("https://") || address.starts_with("http://") {
                    let after = &word[address.len()..];
                    format!("<a href=\"{address}\">{address}</a>{after}")
                } else {
                    word.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        Some(format!(
            "<tr><td colspan=\"{columns}\" style=\"{CELL};font-style:italic\">{html}</td></tr>"
        ))
    }
}

/// A count with thousands separated: `12,345`.
pub fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(limit: usize, rest: FullList) -> ListCap {
        ListCap { limit, rest }
    }

    #[test]
    fn a_list_under_the_cap_is_shown_whole_with_no_line_under_it() {
        let list = [1, 2, 3];
        let three = cap(3, FullList::Attached("a.csv".into()));
        assert_eq!(ListCap::shown(Some(&three), &list), [1, 2, 3]);
        assert_eq!(ListCap::more_text(Some(&three), list.len()), None);
        assert_eq!(ListCap::more_row(Some(&three), list.len(), 8), None);
        assert_eq!(ListCap::shown(None, &list), [1, 2, 3]);
        assert_eq!(ListCap::more_text(None, 1_000_000), None);
    }

    #[test]
    fn a_longer_list_shows_the_first_lines_and_says_how_many_more_and_where() {
        let list: Vec<usize> = (0..12_347).collect();
        let two = cap(
            2,
            FullList::Attached("ocset-daily-2024-03-05.csv.gz".into()),
        );
        assert_eq!(ListCap::shown(Some(&two), &list), [0, 1]);
        assert_eq!(
            ListCap::more_text(Some(&two), list.len()).unwrap(),
            "… and 12,345 more; the full list is in the attached file ocset-daily-2024-03-05.csv.gz."
        );
        let row = ListCap::more_row(Some(&two), list.len(), 8).unwrap();
        assert!(row.starts_with("<tr><td colspan=\"8\""), "{row}");
        assert!(row.contains(">… and 12,345 more; the full list"), "{row}");
    }

    #[test]
    fn a_link_is_a_link_in_html_and_escaped() {
        let url = "https://ocset.force.example/reports/weekly.csv?week=2024-W05&x=\"y\"";
        let link = cap(1, FullList::TooLong(format!("it is at {url}")));
        let text = ListCap::more_text(Some(&link), 3).unwrap();
        assert_eq!(
            text,
            format!("… and 2 more; the full list is too long to attach; it is at {url}.")
        );
        let row = ListCap::more_row(Some(&link), 3, 4).unwrap();
        assert!(
            row.contains(&format!("<a href=\"{}\">{}</a>.", esc(url), esc(url))),
            "{row}"
        );
        assert!(!row.contains("\"y\""), "{row}");
        let script = cap(1, FullList::TooLong("it is at javascript:alert(1)".into()));
        assert!(!ListCap::more_row(Some(&script), 3, 4)
            .unwrap()
            .contains("href"));
    }

    #[test]
    fn counts_are_grouped_in_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(12_345), "12,345");
        assert_eq!(grouped(999_950), "999,950");
        assert_eq!(grouped(1_000_000), "1,000,000");
    }
}
