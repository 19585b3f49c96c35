//! The pieces both HTML reports are built from: escaping, the inline
//! styles and the table cells. Inline styles only, because Outlook ignores
//! style sheets; no script, SVG, images or anything fetched from outside.

use crate::text::esc;
use std::fmt::Write;

/// The font every element names (Outlook does not inherit it reliably).
pub(super) const FONT: &str = "font-family:Arial,sans-serif";
/// A report table.
pub(super) const TABLE: &str =
    "border-collapse:collapse;font-family:Arial,sans-serif;font-size:13px;margin:6px 0 14px 0";
/// A section heading.
pub(super) const H2: &str = "font-family:Arial,sans-serif;font-size:16px;margin:18px 0 4px 0";
/// A table's caption: what the table is, in a sentence.
pub(super) const CAPTION: &str =
    "text-align:left;font-weight:bold;font-family:Arial,sans-serif;font-size:13px;padding:2px 0";
/// Every cell's border and padding.
/// A table cell's style.
pub(super) const CELL: &str = "border:1px solid #999;padding:4px 8px;vertical-align:top";

/// The protective marking as a centred red line, for the top and the
/// bottom of a report.
pub(crate) fn marking(marking: &str) -> String {
    format!(
        "<p style=\"{FONT};font-weight:bold;text-align:center;color:#b00000;margin:4px 0\">{}</p>",
        esc(marking)
    )
}

/// How a cell's content is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Words: left aligned, may wrap.
    Words,
    /// A reference, a date or a short label: left aligned, kept on one line.
    Fixed,
    /// A figure: right aligned, kept on one line.
    Number,
}

/// One table cell's text (escaped when written) and layout.
#[derive(Debug, Clone)]
pub(super) struct Cell {
    text: String,
    kind: Kind,
}

/// Words that may wrap.
pub(super) fn words(value: impl ToString) -> Cell {
    Cell {
        text: value.to_string(),
        kind: Kind::Words,
    }
}

/// A reference, date or label kept on one line.
pub(super) fn fixed(value: impl ToString) -> Cell {
    Cell {
        text: value.to_string(),
        kind: Kind::Fixed,
    }
}

/// A figure, right aligned.
pub(super) fn number(value: impl ToString) -> Cell {
    Cell {
        text: value.to_string(),
        kind: Kind::Number,
    }
}

impl Cell {
    fn style(&self) -> String {
        match self.kind {
            Kind::Words => CELL.to_string(),
            Kind::Fixed => format!("{CELL};white-space:nowrap"),
            Kind::Number => format!("{CELL};white-space:nowrap;text-align:right"),
        }
    }
}

/// A header row; a figure column's header is right aligned over its
/// figures.
pub(super) fn head(cells: &[Cell]) -> String {
    let mut r = String::from("<tr>");
    for cell in cells {
        let align = if cell.kind == Kind::Number {
            "right"
        } else {
            "left"
        };
        let _ = write!(
            r,
            "<th style=\"{CELL};background:#e8e8e8;text-align:{align}\">{}</th>",
            esc(&cell.text)
        );
    }
    r.push_str("</tr>");
    r
}

/// A header row over groups of columns: each group's title spans its
/// columns ("This week" over three figures); an empty title leaves the
/// columns under it blank.
pub(super) fn group_head(groups: &[(&str, usize)]) -> String {
    let mut r = String::from("<tr>");
    for (title, span) in groups {
        let _ = write!(
            r,
            "<th colspan=\"{span}\" style=\"{CELL};background:#e8e8e8;text-align:center\">{}</th>",
            esc(title)
        );
    }
    r.push_str("</tr>");
    r
}

/// A body row; `extra` is added to every cell's style (a row's ground
/// colour, bold for a total).
pub(super) fn row(cells: &[Cell], extra: &str) -> String {
    format!("<tr>{}</tr>", tds(cells, extra))
}

/// The cells of a body row, without the row, for a row that ends with a
/// [`raw_cell`].
pub(super) fn tds(cells: &[Cell], extra: &str) -> String {
    let mut r = String::new();
    for cell in cells {
        let _ = write!(
            r,
            "<td style=\"{}{extra}\">{}</td>",
            cell.style(),
            esc(&cell.text)
        );
    }
    r
}

/// One cell across a whole row, for "None".
pub(super) fn note_row(text: &str, columns: usize) -> String {
    format!(
        "<tr><td colspan=\"{columns}\" style=\"{CELL}\">{}</td></tr>",
        esc(text)
    )
}

/// A plain cell whose content is already HTML (the trend chart's bars).
pub(super) fn raw_cell(html: &str) -> String {
    format!("<td style=\"{CELL}\">{html}</td>")
}

/// The text of each `<td>` in the first row of `page` with a cell reading
/// exactly `key` (the renderers' tests read tables with it).
/// How a total row stands out from the rows it adds up.
pub(crate) const TOTAL: &str = ";font-weight:bold;background:#f4f4f4";

#[cfg(test)]
pub(super) fn row_cells(page: &str, key: &str) -> Vec<String> {
    let row = page
        .split("<tr>")
        .find(|r| r.contains(&format!(">{key}<")))
        .unwrap_or_else(|| panic!("no row for {key:?}"));
    row.split("<td")
        .skip(1)
        .map(|c| {
            c.split('>')
                .nth(1)
                .and_then(|text| text.split('<').next())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_and_their_headers_are_right_aligned() {
        let header = head(&[words("Grade"), number("Open")]);
        assert!(header.contains("text-align:left\">Grade</th>"), "{header}");
        assert!(header.contains("text-align:right\">Open</th>"), "{header}");
        let body = row(&[fixed("DEMO-1"), number(5)], ";font-weight:bold");
        assert!(
            body.contains("white-space:nowrap;text-align:right;font-weight:bold\">5</td>"),
            "{body}"
        );
    }
}
