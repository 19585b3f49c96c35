//! The frame of every page: the protective marking at top and bottom, the
//! service's name, the navigation and who is signed in, one `h1`, then the
//! page's own content. English (UK), readable at 420 px, no inline style
//! or script.

use super::session::{SignedIn, CSRF_FIELD};
use maud::{html, Markup, DOCTYPE};

/// Which navigation entry a page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    /// `/`.
    Overview,
    /// `/breaches`.
    Breaches,
    /// `/due-soon`.
    DueSoon,
    /// `/officers`.
    Officers,
    /// `/reports/weekly`.
    Weekly,
    /// `/capacity`.
    Capacity,
    /// `/audit` (shown to administrators only).
    Audit,
    /// A page that is none of them (a package, sign-in, an error).
    Elsewhere,
}

/// What the frame needs besides the page's content.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chrome<'a> {
    /// The protective marking, shown at the top and the bottom.
    pub(crate) marking: &'a str,
    /// The signed-in person, when there is one: the navigation and the
    /// sign-out form are shown only then.
    pub(crate) signed_in: Option<&'a SignedIn>,
    /// The page's place in the navigation.
    pub(crate) current: Nav,
}

/// A whole page: `title` is its `h1` and its `<title>`.
pub(crate) fn page(chrome: Chrome<'_>, title: &str, content: Markup) -> Markup {
    let here = |nav: Nav| (chrome.current == nav).then_some("page");
    html! {
        (DOCTYPE)
        html lang="en-GB" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " – OCSET dashboard" }
                link rel="stylesheet" href="/static/app.css";
            }
            body {
                a.skip href="#main" { "Skip to main content" }
                p.marking { (chrome.marking) }
                header.masthead {
                    p.service { a href="/" { "OCSET scheduler" } }
                    @if let Some(signed_in) = chrome.signed_in {
                        nav aria-label="Dashboard" {
                            ul {
                                li { a href="/" aria-current=[here(Nav::Overview)] { "Overview" } }
                                li { a href="/breaches" aria-current=[here(Nav::Breaches)] { "Breaches" } }
                                li { a href="/due-soon" aria-current=[here(Nav::DueSoon)] { "Due soon" } }
                                li { a href="/officers" aria-current=[here(Nav::Officers)] { "Officers" } }
                                li { a href="/reports/weekly" aria-current=[here(Nav::Weekly)] { "Weekly report" } }
                                li { a href="/capacity" aria-current=[here(Nav::Capacity)] { "Capacity" } }
                                @if signed_in.may(crate::domain::Role::Admin) {
                                    li { a href="/audit" aria-current=[here(Nav::Audit)] { "Audit" } }
                                }
                            }
                        }
                        form.sign-out method="post" action="/sign-out" {
                            (csrf_field(signed_in))
                            span { "Signed in as " (signed_in.session.display()) " (" (signed_in.session.role.as_str()) ")" }
                            " "
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (content)
                }
                footer {
                    p.marking { (chrome.marking) }
                }
            }
        }
    }
}

/// The hidden field carrying the session's CSRF token, for every form.
pub(crate) fn csrf_field(signed_in: &SignedIn) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(signed_in.session.csrf); }
}

/// A page that sends the browser on to `to` at once (a meta refresh, which
/// the Content-Security-Policy allows, unlike a script), with a link for
/// a browser that does not follow it. Used where a 303 cannot serve: after
/// the issuer's redirect (so the session cookie, SameSite=Strict, is sent
/// on the next request, which this site starts) and to sign out at the
/// issuer after the sign-out form (whose redirect `form-action` governs).
pub(crate) fn onward_page(marking: &str, title: &str, message: &str, to: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en-GB" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content=(format!("0;url={to}"));
                title { (title) " – OCSET dashboard" }
                link rel="stylesheet" href="/static/app.css";
            }
            body {
                p.marking { (marking) }
                main #main {
                    h1 { (title) }
                    p { (message) }
                    p { a #onward href=(to) { "Continue" } }
                }
                footer {
                    p.marking { (marking) }
                }
            }
        }
    }
}

/// An error page: the marking, the title, what went wrong, and the way back.
pub(crate) fn error_page(marking: &str, title: &str, message: &str) -> Markup {
    page(
        Chrome {
            marking,
            signed_in: None,
            current: Nav::Elsewhere,
        },
        title,
        html! {
            p { (message) }
            p { a href="/" { "Back to the overview" } }
        },
    )
}
