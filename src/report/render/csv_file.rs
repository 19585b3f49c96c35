//! The report (weekly, monthly or quarterly) as one CSV of open packages, for a spreadsheet.

use super::super::{spreadsheet_safe, WeeklyReport};

/// One CSV of every open package at the week's end (the breaches are those
/// with `days_overdue`). Every row carries the marking in its first column,
/// so a copied-out row still says what it is.
pub fn csv(report: &WeeklyReport) -> String {
    let mut out = Vec::new();
    write_csv(report, &mut out).expect("writing to memory");
    String::from_utf8(out).expect("CSV is UTF-8")
}

/// [`csv()`], written to `out` as it goes (a digest compresses it on the
/// way, never holding the whole text). Fails only as `out` fails.
pub(crate) fn write_csv(report: &WeeklyReport, out: impl std::io::Write) -> csv::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    let header = [
        "marking",
        // `week` for a weekly report (as it always was), `month` or `quarter`.
        report.period_kind.as_str(),
        "reference",
        "risk_grade",
        "stage",
        "lpa",
        "received_at",
        "deadline_at",
        "age_days",
        "breached",
        "days_overdue",
        "assigned_officer",
        "breach_reason",
        "acknowledgement",
    ];
    writer.write_record(header)?;
    for p in &report.open_packages {
        writer.write_record([
            report.marking.clone(),
            report.period.to_string(),
            spreadsheet_safe(&p.reference),
            p.grade.as_str().into(),
            p.stage.as_str().into(),
            spreadsheet_safe(&p.lpa),
            p.received_at.to_rfc3339(),
            p.deadline_at.to_rfc3339(),
            p.age_days.to_string(),
            p.days_overdue.is_some().to_string(),
            p.days_overdue.map(|d| d.to_string()).unwrap_or_default(),
            spreadsheet_safe(p.officer.as_deref().unwrap_or_default()),
            spreadsheet_safe(p.acknowledgement_reason.as_deref().unwrap_or_default()),
            spreadsheet_safe(p.acknowledgement.as_deref().unwrap_or_default()),
        ])?;
    }
    writer.flush()?;
    Ok(())
}
