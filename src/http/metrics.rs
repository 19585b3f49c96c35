//! Prometheus metrics: request counts and latencies by route template (never
//! a reference), and the ledger's gauges computed at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Latency bucket bounds, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Debug, Default)]
struct Latency {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Request counters and latency histograms.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<(String, String), Latency>>,
}

impl Metrics {
    /// Records one request on `route` (a template such as
    /// `/api/v1/packages/{reference}`).
    pub(crate) fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        *self
            .requests
            .lock()
            .expect("metrics lock")
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        let seconds = elapsed.as_secs_f64();
        let mut latency = self.latency.lock().expect("metrics lock");
        let entry = latency
            .entry((method.to_string(), route.to_string()))
            .or_default();
        for (bound, count) in BUCKETS.iter().zip(entry.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        entry.count += 1;
        entry.sum += seconds;
    }

    /// The request metrics in Prometheus text format.
    pub(crate) fn render_requests(&self, out: &mut String) {
        family(
            out,
            "ocset_http_requests_total",
            "counter",
            "HTTP requests by method, route and status.",
        );
        for ((method, route, status), count) in self.requests.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "ocset_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
                escape(route)
            );
        }
        family(
            out,
            "ocset_http_request_duration_seconds",
            "histogram",
            "HTTP request latency by method and route.",
        );
        for ((method, route), latency) in self.latency.lock().expect("metrics lock").iter() {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            for (bound, count) in BUCKETS.iter().zip(latency.counts.iter()) {
                let _ = writeln!(
                    out,
                    "ocset_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "ocset_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                latency.count
            );
            let _ = writeln!(
                out,
                "ocset_http_request_duration_seconds_sum{{{labels}}} {}",
                latency.sum
            );
            let _ = writeln!(
                out,
                "ocset_http_request_duration_seconds_count{{{labels}}} {}",
                latency.count
            );
        }
    }
}

/// Starts a metric family in Prometheus text format: its `# HELP` and
/// `# TYPE` lines (`kind` is `gauge`, `counter` or `histogram`).
pub(crate) fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Escapes a label value.
pub(crate) fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_buckets_accumulate() {
        let m = Metrics::default();
        m.record("GET", "/api/v1/status", 200, Duration::from_millis(3));
        m.record("GET", "/api/v1/status", 200, Duration::from_millis(30));
        m.record("GET", "/api/v1/status", 401, Duration::from_millis(1));
        let mut out = String::new();
        m.render_requests(&mut out);
        assert!(out.contains("ocset_http_requests_total{method=\"GET\",route=\"/api/v1/status\",status=\"200\"} 2"), "{out}");
        assert!(out.contains("status=\"401\"} 1"), "{out}");
        assert!(
            out.contains("route=\"/api/v1/status\",le=\"0.005\"} 2"),
            "{out}"
        );
        assert!(
            out.contains("route=\"/api/v1/status\",le=\"0.025\"} 2"),
            "{out}"
        );
        assert!(
            out.contains("route=\"/api/v1/status\",le=\"0.05\"} 3"),
            "{out}"
        );
        assert!(out.contains("ocset_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/status\"} 3"), "{out}");
    }
}
