//! `/due-soon`: the sergeant's worklist. Open packages not yet breached
//! whose deadline falls within the next 48 hours or 7 days (`within=48h`
//! or `7d`, the default), by deadline or grouped by officer or LPA
//! (`sort=deadline|officer|lpa`), filtered by LPA; each links to its page.
//! Listed through the same audited [`App::list_packages`] path as the
//! breaches page, with the deadline window the overview's "due within"
//! figures count, so the list and the figure agree.
//!
//! [`App::list_packages`]: crate::app::App::list_packages

use super::super::format::time;
use super::super::layout::{page as frame, Nav};
use super::super::session::SignedIn;
use super::super::{PageError, WebState};
use super::{chrome, lpa_from_query, open_packages_table};
use crate::domain::{Lpa, Package};
use crate::store::PackageFilter;
use axum::extract::State;
use axum::http::Uri;
use maud::{html, Markup};

/// The most packages one page shows.
const PAGE_LIMIT: u32 = 500;

/// A horizon the page offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Within {
    Hours48,
    Days7,
}

impl Within {
    fn parse(text: Option<&str>) -> Result<Self, PageError> {
        match text.map(str::trim) {
            None | Some("") | Some("7d") => Ok(Within::Days7),
            Some("48h") => Ok(Within::Hours48),
            Some(other) => Err(PageError::Invalid(format!(
                "within must be 48h or 7d, not {other:?}."
            ))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Within::Hours48 => "48h",
            Within::Days7 => "7d",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Within::Hours48 => "48 hours",
            Within::Days7 => "7 days",
        }
    }

    fn span(self) -> chrono::Duration {
        match self {
            Within::Hours48 => chrono::Duration::hours(48),
            Within::Days7 => chrono::Duration::days(7),
        }
    }
}

/// How the list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    Deadline,
    Officer,
    Lpa,
}

impl Sort {
    fn parse(text: Option<&str>) -> Result<Self, PageError> {
        match text.map(str::trim) {
            None | Some("") | Some("deadline") => Ok(Sort::Deadline),
            Some("officer") => Ok(Sort::Officer),
            Some("lpa") => Ok(Sort::Lpa),
            Some(other) => Err(PageError::Invalid(format!(
                "sort must be deadline, officer or lpa, not {other:?}."
            ))),
        }
    }
}

/// The officer a package is assigned to, or "Unassigned".
fn officer_of(package: &Package) -> String {
    package
        .assigned_officer()
        .map_or("Unassigned".to_string(), ToString::to_string)
}

/// `GET /due-soon`.
pub(crate) async fn page(
    State(state): State<WebState>,
    signed_in: SignedIn,
    uri: Uri,
) -> Result<Markup, PageError> {
    let (lpa, query) = lpa_from_query(&state, uri.query())?;
    let within = Within::parse(query.get("within").map(String::as_str))?;
    let sort = Sort::parse(query.get("sort").map(String::as_str))?;
    let app = &state.app;
    let now = app.now();
    let zone = app.settings().time_zone;
    let filter = PackageFilter {
        open_only: true,
        lpa: lpa.as_ref().map(ToString::to_string),
        deadline_within: Some((now, now + within.span())),
        limit: Some(PAGE_LIMIT + 1),
        ..PackageFilter::default()
    };
    let mut packages = app.list_packages(&filter, &signed_in.actor()).await?;
    let more = packages.len() > PAGE_LIMIT as usize;
    packages.truncate(PAGE_LIMIT as usize);
    // The store gives deadline order; a stable sort keeps it within a group.
    match sort {
        Sort::Deadline => {}
        Sort::Officer => packages.sort_by_key(officer_of),
        Sort::Lpa => packages.sort_by(|a, b| a.lpa().as_str().cmp(b.lpa().as_str())),
    }
    let title = match &lpa {
        Some(lpa) => format!("Due soon: {lpa}"),
        None => "Due soon".to_string(),
    };
    Ok(frame(
        chrome(&state, &signed_in, Nav::DueSoon),
        &title,
        html! {
            p { "Open packages not yet breached whose deadline falls within the next "
                (within.words()) ", at " (time(now, zone)) "." }
            (filters(&state, lpa.as_ref(), within, sort))
            @if packages.is_empty() {
                p #no-due-soon { "No open package falls due within the next " (within.words()) "." }
            } @else {
                (open_packages_table(
                    "due-soon",
                    html! { (packages.len()) " packages due within " (within.words())
                        @if more { " (the " (PAGE_LIMIT) " soonest; choose an LPA to see others)" } },
                    &packages,
                    true,
                    zone,
                    now,
                ))
            }
        },
    ))
}

/// The GET form: LPA, horizon and order.
fn filters(state: &WebState, chosen: Option<&Lpa>, within: Within, sort: Sort) -> Markup {
    let lpas = state.app.settings().lpas.all();
    html! {
        form.filter method="get" action="/due-soon" {
            div.field {
                label for="lpa" { "Local policing area" }
                @if lpas.is_empty() {
                    input #lpa type="text" name="lpa" value=[chosen.map(Lpa::as_str)];
                } @else {
                    select #lpa name="lpa" {
                        option value="" selected[chosen.is_none()] { "All LPAs" }
                        @for lpa in lpas {
                            option value=(lpa.as_str()) selected[chosen == Some(lpa)] { (lpa.as_str()) }
                        }
                    }
                }
            }
            div.field {
                label for="within" { "Due within" }
                select #within name="within" {
                    @for option in [Within::Hours48, Within::Days7] {
                        option value=(option.as_str()) selected[option == within] { (option.words()) }
                    }
                }
            }
            div.field {
                label for="sort" { "Order" }
                select #sort name="sort" {
                    option value="deadline" selected[sort == Sort::Deadline] { "By deadline" }
                    option value="officer" selected[sort == Sort::Officer] { "By officer" }
                    option value="lpa" selected[sort == Sort::Lpa] { "By LPA" }
                }
            }
            button type="submit" { "Show" }
        }
    }
}
