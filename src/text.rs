//! Small text helpers shared by modules that have nothing else in common:
//! a span as a person says it (intake's errors, notices), the one HTML
//! escape (reports and notice emails) and lower-case hex (tokens, webhook
//! signatures). Pure functions of their input; nothing here knows the domain.

use chrono::Duration;

/// "3 days 4 hours", "45 minutes": a span as a person says it.
pub(crate) fn describe_duration(span: Duration) -> String {
    let minutes = span.num_minutes().abs();
    let (days, hours, mins) = (minutes / 1440, (minutes % 1440) / 60, minutes % 60);
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match (days, hours) {
        (0, 0) => plural(mins, "minute"),
        (0, h) if mins == 0 => plural(h, "hour"),
        (0, h) => format!("{} {}", plural(h, "hour"), plural(mins, "minute")),
        (d, 0) => plural(d, "day"),
        (d, h) => format!("{} {}", plural(d, "day"), plural(h, "hour")),
    }
}

/// Escapes text for HTML content and quoted attributes alike (the
/// reports' and the notice emails' one escape).
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Bytes as lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hides the password in a URL (`scheme://user:password@host`) and any
/// `password=` query parameter, so the URL can be logged or printed.
pub fn redact_url(url: &str) -> String {
    let mut out = match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((credentials, host)) => match credentials.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => url.to_string(),
            },
            None => url.to_string(),
        },
        None => url.to_string(),
    };
    if let Some(start) = out.find("password=") {
        let value_start = start + "password=".len();
        let end = out[value_start..]
            .find('&')
            .map_or(out.len(), |i| value_start + i);
        out.replace_range(value_start..end, "***");
    }
    out
}

/// Whether two secrets are equal, in time that does not depend on where
/// they first differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(describe_duration(Duration::minutes(45)), "45 minutes");
        assert_eq!(describe_duration(Duration::minutes(61)), "1 hour 1 minute");
        assert_eq!(describe_duration(Duration::hours(18)), "18 hours");
        assert_eq!(describe_duration(Duration::days(3)), "3 days");
        assert_eq!(describe_duration(Duration::hours(49)), "2 days 1 hour");
    }

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<b>a</b> & \"b\" 'c'"),
            "&lt;b&gt;a&lt;/b&gt; &amp; &quot;b&quot; &#39;c&#39;"
        );
    }

    #[test]
    fn hex_is_lower_case_two_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
    }
}
