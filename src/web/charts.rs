//! The overview's charts: the 12-week trend of open packages by grade, and
//! the share of enforcements within timescale each week, drawn by the
//! server as inline SVG (no script, no image file: the Content-Security-
//! Policy allows neither inline script nor other origins, and SVG
//! presentation attributes are not styles). Each chart is an image with a
//! title and a one-sentence description, followed by its figures as a
//! table, so a screen reader (or a person who wants the numbers) reads the
//! same data.

use super::format::percent;
use crate::domain::RiskGrade;
use crate::report::TrendPoint;
use maud::{html, Markup};

/// The drawing's size in user units; the SVG scales to its container.
const WIDTH: u32 = 640;
const HEIGHT: u32 = 240;
/// Room for the axis labels.
const LEFT: u32 = 40;
const BOTTOM: u32 = 30;
const TOP: u32 = 10;

/// The top of the y axis: the smallest of 1, 2, 5 × 10ⁿ at or above
/// `max`, so the gridlines fall on round numbers.
fn axis_top(max: u64) -> u64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if m * step >= max.max(1) {
                return m * step;
            }
        }
        step *= 10;
    }
}

/// The x position and width of week `i` of `n`.
fn column(i: usize, n: usize) -> (f64, f64) {
    let span = f64::from(WIDTH - LEFT) / n.max(1) as f64;
    (f64::from(LEFT) + span * i as f64 + span * 0.15, span * 0.7)
}

/// The height in user units of `value` on an axis topping at `top`.
fn scaled(value: f64, top: f64) -> f64 {
    f64::from(HEIGHT - TOP - BOTTOM) * value / top
}

/// The week as the axis labels it: `W05`.
fn week_label(point: &TrendPoint) -> String {
    format!("W{:02}", point.week.week())
}

/// The axis, gridlines at 0, half and top, and the week labels.
fn frame(points: &[TrendPoint], top: f64, unit: &str) -> Markup {
    let base = f64::from(HEIGHT - BOTTOM);
    html! {
        @for fraction in [0.0, 0.5, 1.0] {
            @let y = base - scaled(top * fraction, top);
            line x1=(LEFT) x2=(WIDTH) y1=(y) y2=(y) stroke="#b1b4b6" stroke-width="1" {}
            text x=(LEFT - 4) y=(y + 4.0) text-anchor="end" font-size="11" fill="#0b0c0c" {
                (format!("{}{unit}", (top * fraction).round()))
            }
        }
        @for (i, point) in points.iter().enumerate() {
            @let (x, w) = column(i, points.len());
            text x=(x + w / 2.0) y=(HEIGHT - 10) text-anchor="middle" font-size="11" fill="#0b0c0c" {
                (week_label(point))
            }
        }
    }
}

/// Open packages by grade at the end of each week, as stacked bars (most
/// urgent at the bottom), then the figures as a table.
pub(crate) fn open_by_grade(points: &[TrendPoint]) -> Markup {
    let top = axis_top(points.iter().map(|p| p.open).max().unwrap_or(0)) as f64;
    let base = f64::from(HEIGHT - BOTTOM);
    let (first, last) = match (points.first(), points.last()) {
        (Some(first), Some(last)) => (first, last),
        _ => return html! { p { "No weeks to show yet." } },
    };
    let sentence = format!(
        "Open packages at the end of each week from {} to {}: {} then, {} now.",
        first.week, last.week, first.open, last.open
    );
    html! {
        figure.chart {
            svg role="img" aria-labelledby="trend-title trend-desc" viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) width="100%" {
                title #trend-title { "Open packages by grade, last 12 weeks" }
                desc #trend-desc { (sentence) }
                (frame(points, top, ""))
                @for (i, point) in points.iter().enumerate() {
                    @let (x, w) = column(i, points.len());
                    @for (grade, count, y, h) in stack(point, top, base) {
                        rect x=(x) y=(y) width=(w) height=(h) fill=(grade.chart_colour()) {
                            title { (point.week) ", " (grade.label()) ": " (count) }
                        }
                    }
                }
            }
            figcaption {
                "Open packages by grade at the end of each week. "
                @for grade in RiskGrade::ALL {
                    span.key {
                        svg.swatch aria-hidden="true" viewBox="0 0 10 10" width="10" height="10" {
                            rect width="10" height="10" fill=(grade.chart_colour()) {}
                        }
                        " " (grade.label()) " "
                    }
                }
            }
        }
        (trend_table(points))
    }
}

/// One week's bar: each grade with packages, most urgent at the bottom,
/// with its count, top and height.
fn stack(point: &TrendPoint, top: f64, base: f64) -> Vec<(RiskGrade, u64, f64, f64)> {
    let mut y = base;
    RiskGrade::ALL
        .into_iter()
        .filter_map(|grade| {
            let count = point.open_by_grade.get(&grade).copied().unwrap_or(0);
            let h = scaled(count as f64, top);
            y -= h;
            (count > 0).then_some((grade, count, y, h))
        })
        .collect()
}

/// The trend's figures: one row a week.
fn trend_table(points: &[TrendPoint]) -> Markup {
    html! {
        table.stack.chart-data #trend-table {
            caption { "Open packages by grade at the end of each week (the chart's figures)" }
            thead {
                tr {
                    th scope="col" { "Week" }
                    @for grade in RiskGrade::ALL { th scope="col" { (grade.label()) } }
                    th scope="col" { "Open" }
                    th scope="col" { "Enforced within timescale" }
                }
            }
            tbody {
                @for point in points {
                    tr {
                        th scope="row" data-label="Week" { (point.week) }
                        @for grade in RiskGrade::ALL {
                            td.number data-label=(grade.label()) { (point.open_by_grade.get(&grade).copied().unwrap_or(0)) }
                        }
                        td.number data-label="Open" { (point.open) }
                        td.number data-label="Enforced within timescale" {
                            (percent(point.percent_within))
                            " (" (point.enforced_within) " of " (point.enforced_within + point.enforced_late) ")"
                        }
                    }
                }
            }
        }
    }
}

/// The share of each week's enforcements that met the deadline, as bars
/// on a 0–100% axis; a week with none enforced has no bar.
pub(crate) fn percent_within(points: &[TrendPoint]) -> Markup {
    let base = f64::from(HEIGHT - BOTTOM);
    let weeks_with: Vec<String> = points
        .iter()
        .filter_map(|p| p.percent_within.map(|v| format!("{} {v:.1}%", p.week)))
        .collect();
    let sentence = if weeks_with.is_empty() {
        "No package was enforced in these weeks.".to_string()
    } else {
        format!(
            "Share of the week's enforcements within timescale: {}.",
            weeks_with.join(", ")
        )
    };
    html! {
        figure.chart {
            svg role="img" aria-labelledby="within-title within-desc" viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) width="100%" {
                title #within-title { "Enforced within timescale, last 12 weeks" }
                desc #within-desc { (sentence) }
                (frame(points, 100.0, "%"))
                @for (i, point) in points.iter().enumerate() {
                    @if let Some(value) = point.percent_within {
                        @let (x, w) = column(i, points.len());
                        @let h = scaled(value, 100.0);
                        rect x=(x) y=(base - h) width=(w) height=(h) fill="#00703c" {
                            title { (point.week) ": " (format!("{value:.1}%")) }
                        }
                    }
                }
            }
            figcaption { "Share of each week's enforcements that met the deadline; the figures are in the table above." }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::IsoWeek;

    fn point(week: u32, counts: [u64; 4], within: u64, late: u64) -> TrendPoint {
        let open_by_grade = RiskGrade::ALL.into_iter().zip(counts).collect();
        TrendPoint {
            week: IsoWeek::new(2024, week).unwrap(),
            period: IsoWeek::new(2024, week).unwrap().into(),
            open_by_grade,
            open: counts.iter().sum(),
            enforced_within: within,
            enforced_late: late,
            percent_within: (within + late > 0)
                .then(|| (within as f64 * 1000.0 / (within + late) as f64).round() / 10.0),
        }
    }

    #[test]
    fn the_axis_tops_at_a_round_number() {
        assert_eq!(axis_top(0), 1);
        assert_eq!(axis_top(3), 5);
        assert_eq!(axis_top(7), 10);
        assert_eq!(axis_top(11), 20);
        assert_eq!(axis_top(150), 200);
    }

    #[test]
    fn bars_are_as_tall_as_their_counts_and_the_figures_are_in_a_table() {
        let points = [point(4, [1, 2, 3, 4], 1, 1), point(5, [0, 0, 0, 0], 0, 0)];
        let html = open_by_grade(&points).into_string();
        // Top 10 over 200 units: a count of 4 is 80 units tall.
        assert!(html.contains("height=\"80\""), "{html}");
        assert!(html.contains("2024-W04, Standard: 4"), "{html}");
        assert!(!html.contains("2024-W05, "), "an empty week draws no bar");
        let table = scraper::Html::parse_fragment(&html);
        let cells: Vec<String> = table
            .select(&scraper::Selector::parse("#trend-table tbody tr:first-child td").unwrap())
            .map(|c| c.text().collect())
            .collect();
        assert_eq!(cells, ["1", "2", "3", "4", "10", "50.0% (1 of 2)"]);
        assert!(html.contains("<desc id=\"trend-desc\">Open packages at the end of each week from 2024-W04 to 2024-W05: 10 then, 0 now.</desc>"), "{html}");
    }

    #[test]
    fn the_share_within_timescale_draws_only_weeks_with_enforcements() {
        let points = [point(4, [0; 4], 3, 1), point(5, [0; 4], 0, 0)];
        let html = percent_within(&points).into_string();
        assert!(html.contains("2024-W04: 75.0%"), "{html}");
        assert_eq!(html.matches("<rect").count(), 1, "{html}");
        assert!(html.contains("2024-W04 75.0%."), "{html}");
        let none = percent_within(&[point(5, [0; 4], 0, 0)]).into_string();
        assert!(none.contains("No package was enforced in these weeks."));
    }
}
