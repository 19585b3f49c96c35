//! The process's own figures for `/metrics`, under the names every
//! Prometheus client library gives them (`process_*`), so the usual
//! dashboards and alerts work: memory, CPU time, file descriptors and the
//! start time. Read from `/proc/self` at scrape time (Linux; elsewhere the
//! series that need it are left out). Only the process's own directory is
//! read, which the hardened systemd unit's `ProcSubset=pid` leaves visible.

use super::metrics::family;
use std::fmt::Write;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Clock ticks per second in `/proc/<pid>/stat`: USER_HZ, fixed at 100 by
/// the kernel's ABI on every architecture Linux exposes it (Prometheus's
/// own `procfs` assumes the same).
const USER_HZ: f64 = 100.0;

/// When the process started, as this module first saw it.
static STARTED: OnceLock<SystemTime> = OnceLock::new();

/// Notes now as the process's start, unless already noted: `serve` calls it
/// first thing (before migrating), and the HTTP server when it is built.
pub(crate) fn note_start() -> SystemTime {
    *STARTED.get_or_init(SystemTime::now)
}

/// What `/proc/self` says about this process.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ProcessFigures {
    /// Resident set size (VmRSS).
    resident_bytes: u64,
    /// Virtual memory size (VmSize).
    virtual_bytes: u64,
    /// User and system CPU time.
    cpu_seconds: f64,
    /// Open file descriptors.
    open_fds: u64,
    /// The soft limit on open files; `None` when unlimited.
    max_fds: Option<u64>,
}

/// The `process_*` series in Prometheus text format.
pub(crate) fn render(out: &mut String) {
    let started = note_start()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    family(
        out,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
    );
    let _ = writeln!(out, "process_start_time_seconds {started:.3}");
    let Some(figures) = read() else { return };
    family(
        out,
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
    );
    let _ = writeln!(
        out,
        "process_resident_memory_bytes {}",
        figures.resident_bytes
    );
    family(
        out,
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
    );
    let _ = writeln!(
        out,
        "process_virtual_memory_bytes {}",
        figures.virtual_bytes
    );
    family(
        out,
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
    );
    let _ = writeln!(out, "process_cpu_seconds_total {:.2}", figures.cpu_seconds);
    family(
        out,
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
    );
    let _ = writeln!(out, "process_open_fds {}", figures.open_fds);
    if let Some(max) = figures.max_fds {
        family(
            out,
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
        );
        let _ = writeln!(out, "process_max_fds {max}");
    }
}

/// Reads the figures, or `None` where there is no `/proc/self` (not Linux)
/// or it says something unexpected.
fn read() -> Option<ProcessFigures> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    // The count includes the descriptor read_dir holds open while counting.
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    let (resident_bytes, virtual_bytes) = memory(&status)?;
    Some(ProcessFigures {
        resident_bytes,
        virtual_bytes,
        cpu_seconds: cpu_seconds(&stat)?,
        open_fds,
        max_fds: max_open_files(&limits)?,
    })
}

/// VmRSS and VmSize from `/proc/self/status`, in bytes (it gives kB).
fn memory(status: &str) -> Option<(u64, u64)> {
    let kilobytes = |key: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((kilobytes("VmRSS:")?, kilobytes("VmSize:")?))
}

/// utime + stime from `/proc/self/stat`, in seconds. The fields are counted
/// after the command name's closing parenthesis, since the name may hold
/// spaces and parentheses itself.
fn cpu_seconds(stat: &str) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name: state is field 3; utime and stime are fields 14, 15.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// The soft "Max open files" limit from `/proc/self/limits`: `Some(None)`
/// when unlimited, `None` when the line is missing or unreadable.
fn max_open_files(limits: &str) -> Option<Option<u64>> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        Some(None)
    } else {
        soft.parse().ok().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_read_in_bytes_from_status() {
        let status = "Name:\tocset-scheduler\nVmPeak:\t  200000 kB\nVmSize:\t  123456 kB\nVmRSS:\t   40960 kB\n";
        assert_eq!(memory(status), Some((40960 * 1024, 123_456 * 1024)));
        assert_eq!(memory("Name:\tx\nVmSize:\t 1 kB\n"), None, "no VmRSS");
    }

    #[test]
    fn cpu_time_counts_fields_after_a_name_with_spaces_and_parentheses() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
        // majflt cmajflt utime stime ...
        let stat =
            "4242 (ocset (a) b) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 12345 0";
        assert_eq!(cpu_seconds(stat), Some(3.25));
        assert_eq!(cpu_seconds("4242 (x) S 1"), None);
    }

    #[test]
    fn the_soft_open_files_limit_or_unlimited() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \nMax processes             63432                63432                processes \nMax open files            1024                 524288               files     \n";
        assert_eq!(max_open_files(limits), Some(Some(1024)));
        let unlimited =
            "Max open files            unlimited            unlimited            files     \n";
        assert_eq!(max_open_files(unlimited), Some(None));
        assert_eq!(max_open_files("Max processes 1 1 processes\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_sane_figures() {
        let figures = read().expect("/proc/self is readable");
        assert!(figures.resident_bytes > 1024 * 1024, "{figures:?}");
        assert!(
            figures.virtual_bytes >= figures.resident_bytes,
            "{figures:?}"
        );
        assert!(figures.open_fds >= 3, "{figures:?}");
        assert!(
            figures.max_fds.is_none_or(|max| max >= figures.open_fds),
            "{figures:?}"
        );
        let mut out = String::new();
        render(&mut out);
        assert!(out.contains("\nprocess_open_fds "), "{out}");
        assert!(
            out.contains("# TYPE process_cpu_seconds_total counter"),
            "{out}"
        );
    }
}
