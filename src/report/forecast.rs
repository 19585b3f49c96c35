//! The capacity report's forecast: the next 4 and 8 weeks, simulated by
//! resampling the ledger's own recent weeks (a bootstrap), seeded so that
//! the same ledger at the same instant always gives the same figures.
//!
//! Each simulated future ([`RUNS`] of them) walks forward week by week
//! from the report's instant. For each coming week it draws, at random
//! with replacement, one of the history's weeks for the arrivals (every
//! grade's count from that same week, so the grade mix of a real week is
//! kept) and, independently, one of them for the clock stops (enforced
//! or closed): referrals come from outside the team, stops from its
//! capacity, so the two are drawn apart. New packages arrive at random
//! instants within their week with their grade's timescale; the open
//! queue is worked **earliest deadline first** (the breached packages,
//! whose deadlines are earliest, first), the week's stops spread evenly
//! through the week. A package breaches in a future when its deadline
//! passes before it is reached. Each figure's range is the 10th to 90th
//! percentile over the futures and its central figure their median.
//!
//! The throughput needed to hold every timescale is the week-by-week
//! demand bound of earliest-deadline-first: for each horizon `t` weeks
//! (1 to the forecast's), every package whose deadline falls by the end
//! of week `t` (the already breached included) must have stopped by
//! then, so a constant weekly throughput must be at least that count
//! divided by `t`; the needed figure is the largest of those.
//!
//! The random numbers come from [`SplitMix64`], written here so that no
//! crate upgrade can change a published figure.

use crate::domain::timescale::ZoneOffsets;
use crate::domain::{RiskGrade, Timescales};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// How many futures are simulated. 500 puts the 10th and 90th
/// percentiles within about one package of where ten times as many runs
/// put them, and keeps a report well under a second.
pub(crate) const RUNS: usize = 500;

/// The horizons forecast, in weeks.
pub(crate) const HORIZONS: [u32; 2] = [4, 8];

/// The percentiles a range spans: about 8 futures in 10 fall inside it.
pub(crate) const RANGE_PERCENTILES: (f64, f64) = (10.0, 90.0);

/// Below this many weeks of history the method text warns that the range
/// is rough: a bootstrap of a few weeks cannot show how much weeks vary.
pub(crate) const FEW_WEEKS: usize = 8;

/// A small, fixed pseudo-random generator (SplitMix64, Steele, Lea and
/// Flood 2014): 64 bits of state, good enough statistically for a
/// bootstrap, and its output is fixed by this code alone.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator started from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0), by Lemire's multiply-shift; its bias
    /// (below 2^-50 for the sizes here) does not matter to a bootstrap.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// FNV-1a over bytes: the seed's hash, written here (not std's hasher,
/// whose output may change between Rust releases).
#[derive(Debug, Clone)]
pub(crate) struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    /// Mixes `bytes` in.
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The hash so far.
    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

/// What the forecast resamples: the history's weeks, the open queue now.
#[derive(Debug, Clone)]
pub(crate) struct ForecastInput {
    /// Where the forecast starts.
    pub(crate) now: DateTime<Utc>,
    /// The force time zone (a "N days" timescale counts local days).
    pub(crate) time_zone: Tz,
    /// Each grade's timescale, for the arrivals' deadlines.
    pub(crate) timescales: Timescales,
    /// Per history week, oldest first: packages received per grade, in
    /// [`RiskGrade::ALL`]'s order.
    pub(crate) arrivals: Vec<[u64; 4]>,
    /// Per history week, the same weeks: clocks stopped (enforced or closed).
    pub(crate) stops: Vec<u64>,
    /// The open packages' deadlines now.
    pub(crate) open_deadlines: Vec<DateTime<Utc>>,
    /// The median officer's clocks stopped per week, if any officer
    /// stopped one in the history.
    pub(crate) officer_rate: Option<f64>,
    /// The generator's seed.
    pub(crate) seed: u64,
}

/// A figure's spread over the simulated futures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Range {
    /// The 10th percentile.
    pub low: u64,
    /// The median.
    pub central: u64,
    /// The 90th percentile.
    pub high: u64,
}

impl Range {
    /// The range of `values` (sorted here); all zero when empty.
    fn of(mut values: Vec<u64>) -> Self {
        values.sort_unstable();
        let at = |p: f64| -> u64 {
            if values.is_empty() {
                return 0;
            }
            // Nearest rank, as the report's percentiles are.
            let rank = ((p / 100.0) * values.len() as f64).ceil().max(1.0) as usize;
            values[rank.min(values.len()) - 1]
        };
        Self {
            low: at(RANGE_PERCENTILES.0),
            central: at(50.0),
            high: at(RANGE_PERCENTILES.1),
        }
    }

    /// True when `value` is within the range, ends included (for the
    /// tests that check the range against a known truth).
    #[cfg(test)]
    pub(crate) fn contains(&self, value: f64) -> bool {
        self.low as f64 <= value && value <= self.high as f64
    }
}

/// Expected arrivals of one grade over a horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GradeRange {
    /// The grade.
    pub grade: RiskGrade,
    /// Packages received over the horizon.
    pub arrivals: Range,
}

/// The forecast for one horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Horizon {
    /// Weeks ahead (4 or 8).
    pub weeks: u32,
    /// The horizon's end: the report's instant plus that many weeks.
    pub ends_at: DateTime<Utc>,
    /// Packages expected to be received, per grade.
    pub arrivals_by_grade: Vec<GradeRange>,
    /// Packages expected to be received, every grade.
    pub arrivals: Range,
    /// Clocks expected to stop (enforced or closed) if throughput holds.
    pub stops: Range,
    /// Open packages at the horizon's end if throughput holds.
    pub open_at_end: Range,
    /// Packages whose deadline is expected to pass unmet within the
    /// horizon (not counting those already breached now).
    pub breaches: Range,
    /// Clocks to stop per week to meet every deadline in the horizon
    /// (the breached packages cleared first).
    pub needed_per_week: Range,
    /// Officers needed for `needed_per_week` at the median officer's
    /// rate; `None` when no officer stopped a clock in the history.
    pub officers_needed: Option<Range>,
    /// Clocks to stop per week from the second week on, once the first
    /// week's (the breached and those due within it) are stopped: the
    /// steady need, where `needed_per_week` is often the backlog's.
    pub needed_after_first_week: Range,
    /// Officers needed for `needed_after_first_week` at the median
    /// officer's rate.
    pub officers_after_first_week: Option<Range>,
}

/// The forecast: one [`Horizon`] per entry of [`HORIZONS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Forecast {
    /// Weeks of history resampled.
    pub history_weeks: u32,
    /// Futures simulated.
    pub runs: u32,
    /// The generator's seed, in hex: the same ledger at the same instant
    /// gives the same seed, and so the same figures.
    pub seed: String,
    /// Open packages now already past their deadline.
    pub already_breached: u64,
    /// The median officer's clocks stopped per week, one decimal.
    pub officer_rate: Option<f64>,
    /// The horizons, nearest first.
    pub horizons: Vec<Horizon>,
}

/// One future's figures at each horizon.
#[derive(Debug, Clone, Default, PartialEq)]
struct RunFigures {
    arrivals: Vec<[u64; 4]>,
    stops: Vec<u64>,
    open_at_end: Vec<u64>,
    breaches: Vec<u64>,
    needed: Vec<u64>,
    needed_after: Vec<u64>,
}

const WEEK: Duration = Duration::days(7);

/// The forecast, or `None` when there is no history week to resample or
/// no stop and no arrival in it (nothing to say about the future).
pub(crate) fn forecast(input: &ForecastInput) -> Option<Forecast> {
    let weeks = input.arrivals.len();
    if weeks == 0 || weeks != input.stops.len() {
        return None;
    }
    let mut rng = SplitMix64::new(input.seed);
    let horizon_weeks = *HORIZONS.iter().max().expect("horizons") as usize;
    // The open queue is the same in every future: sorted once, each future
    // counts and takes from it by position rather than copying it into a
    // heap of its own (at a hub's scale it holds hundreds of thousands).
    let mut open = input.open_deadlines.clone();
    open.sort_unstable();
    let zone = zone_offsets(input, horizon_weeks);
    let runs: Vec<RunFigures> = (0..RUNS)
        .map(|_| simulate(input, &open, &zone, &mut rng, horizon_weeks))
        .collect();
    let column = |pick: &dyn Fn(&RunFigures) -> u64| Range::of(runs.iter().map(pick).collect());
    let horizons = HORIZONS
        .iter()
        .enumerate()
        .map(|(h, &w)| {
            let needed = column(&|r| r.needed[h]);
            let after = column(&|r| r.needed_after[h]);
            let officers = |needed: &Range| {
                input
                    .officer_rate
                    .filter(|rate| *rate > 0.0)
                    .map(|rate| Range {
                        low: officers_for(needed.low, rate),
                        central: officers_for(needed.central, rate),
                        high: officers_for(needed.high, rate),
                    })
            };
            Horizon {
                weeks: w,
                ends_at: input.now + WEEK * w as i32,
                arrivals_by_grade: RiskGrade::ALL
                    .iter()
                    .enumerate()
                    .map(|(g, grade)| GradeRange {
                        grade: *grade,
                        arrivals: column(&|r| r.arrivals[h][g]),
                    })
                    .collect(),
                arrivals: column(&|r| r.arrivals[h].iter().sum()),
                stops: column(&|r| r.stops[h]),
                open_at_end: column(&|r| r.open_at_end[h]),
                breaches: column(&|r| r.breaches[h]),
                officers_needed: officers(&needed),
                needed_per_week: needed,
                officers_after_first_week: officers(&after),
                needed_after_first_week: after,
            }
        })
        .collect();
    Some(Forecast {
        history_weeks: weeks as u32,
        runs: RUNS as u32,
        seed: format!("{:016x}", input.seed),
        already_breached: input
            .open_deadlines
            .iter()
            .filter(|d| **d <= input.now)
            .count() as u64,
        officer_rate: input.officer_rate.map(super::one_decimal),
        horizons,
    })
}

/// Officers at `rate` stops a week each to stop `needed` a week: whole
/// officers, rounded up.
pub(crate) fn officers_for(needed: u64, rate: f64) -> u64 {
    (needed as f64 / rate).ceil() as u64
}

/// The zone's offsets over every instant a simulated arrival's deadline
/// can need: the horizon, and the longest timescale after it.
fn zone_offsets(input: &ForecastInput, horizon_weeks: usize) -> ZoneOffsets {
    let longest = RiskGrade::ALL
        .iter()
        .map(|g| input.timescales.for_grade(*g).nominal_hours())
        .max()
        .unwrap_or(0);
    let until = input.now + WEEK * horizon_weeks as i32 + Duration::hours(i64::from(longest) + 48);
    ZoneOffsets::new(input.time_zone, input.now, until)
}

/// One simulated future, `horizon_weeks` long. `open` is the open queue's
/// deadlines, sorted.
///
/// The future is walked one week at a time and nothing of a week is kept
/// once it is walked, so that a hub's tens of thousands of arrivals a week
/// cost a pass each, not a sort of the whole horizon's: a week's arrivals
/// are drawn, then its stops, as the generator has always drawn them (the
/// figures are the same as the first simulation's, which the tests keep as
/// a reference); each arrival is put, by a counting sort, in the slot
/// before the first stop at or after it (the order within a slot does not
/// matter: they all join the queue before that stop); and the demand bound
/// counts each arrival once, in the week its deadline falls.
fn simulate(
    input: &ForecastInput,
    open: &[DateTime<Utc>],
    zone: &ZoneOffsets,
    rng: &mut SplitMix64,
    horizon_weeks: usize,
) -> RunFigures {
    let now = input.now;
    let history = input.arrivals.len() as u64;
    let horizon_ends: Vec<DateTime<Utc>> =
        HORIZONS.iter().map(|w| now + WEEK * *w as i32).collect();
    let week_ms = WEEK.num_milliseconds() as u64;
    // The ends of weeks 1, 2, ... : an arrival due by the end of week t
    // counts towards the demand bound's t-th figure and every later one.
    let week_ends: Vec<DateTime<Utc>> =
        (1..=horizon_weeks).map(|t| now + WEEK * t as i32).collect();
    let mut arrivals_due_in_week = vec![0u64; horizon_weeks];
    let mut arrivals_by_week: Vec<[u64; 4]> = Vec::with_capacity(horizon_weeks);

    // Earliest deadline first. The open queue is already in deadline order
    // and is taken from the front (`next_open`); the future's arrivals wait
    // in a min-heap. Each stop takes the earlier of the two fronts, the open
    // package on a tie (as one heap ordered by (deadline, open before
    // arrival) would): only the deadline taken matters to the figures.
    let mut next_open = 0;
    let mut arrived: BinaryHeap<Reverse<DateTime<Utc>>> = BinaryHeap::new();
    let mut breaches = vec![0u64; horizon_ends.len()];
    let mut stopped = vec![0u64; horizon_ends.len()];
    let mut open_at_end = vec![0u64; horizon_ends.len()];
    // A package reached late at `at` breached at its deadline; a horizon
    // that ended before `at` counted it already, as still waiting then.
    let count_breach = |deadline: DateTime<Utc>, at: DateTime<Utc>, breaches: &mut Vec<u64>| {
        for (h, end) in horizon_ends.iter().enumerate() {
            if now < deadline && deadline <= *end && at <= *end {
                breaches[h] += 1;
            }
        }
    };
    let mut served_total = 0u64;
    // This week's arrivals (offset into the week, deadline), then the same
    // deadlines ordered by slot; reused from week to week.
    let mut week_arrivals: Vec<(u64, DateTime<Utc>)> = Vec::new();
    let mut by_slot: Vec<DateTime<Utc>> = Vec::new();
    let mut slot_starts: Vec<usize> = Vec::new();
    for k in 0..horizon_weeks {
        let week_start = now + WEEK * k as i32;
        let drawn = input.arrivals[rng.below(history) as usize];
        week_arrivals.clear();
        for (g, grade) in RiskGrade::ALL.iter().enumerate() {
            let timescale = input.timescales.for_grade(*grade);
            for _ in 0..drawn[g] {
                let offset = rng.below(week_ms);
                let at = week_start + Duration::milliseconds(offset as i64);
                let deadline = zone.after(timescale, at);
                let due_week = week_ends.partition_point(|end| *end < deadline);
                if let Some(count) = arrivals_due_in_week.get_mut(due_week) {
                    *count += 1;
                }
                week_arrivals.push((offset, deadline));
            }
        }
        arrivals_by_week.push(drawn);
        let stops = input.stops[rng.below(history) as usize];

        // The week's stops spread evenly: the i-th at (i + ½) / stops of
        // the week. An arrival joins the queue before the first stop at or
        // after it: slot i; after the last stop, slot `stops`.
        let stop_offset = |i: u64| (2 * i + 1) * week_ms / (2 * stops);
        let slot = |offset: u64| -> usize {
            if stops == 0 {
                return 0;
            }
            // An estimate from the even spacing, then exact by the offsets
            // themselves (they rise with i), whatever the rounding.
            let mut i = (u128::from(offset) * u128::from(stops) / u128::from(week_ms)) as u64;
            while i > 0 && stop_offset(i - 1) >= offset {
                i -= 1;
            }
            while i < stops && stop_offset(i) < offset {
                i += 1;
            }
            i as usize
        };
        let slots = stops as usize + 1;
        slot_starts.clear();
        slot_starts.resize(slots + 1, 0);
        for (offset, _) in &week_arrivals {
            slot_starts[slot(*offset) + 1] += 1;
        }
        for i in 1..=slots {
            slot_starts[i] += slot_starts[i - 1];
        }
        by_slot.clear();
        by_slot.resize(week_arrivals.len(), week_start);
        let mut fill = slot_starts.clone();
        for (offset, deadline) in &week_arrivals {
            let s = slot(*offset);
            by_slot[fill[s]] = *deadline;
            fill[s] += 1;
        }

        for i in 0..stops {
            let at = week_start + Duration::milliseconds(stop_offset(i) as i64);
            let s = i as usize;
            arrived.extend(
                by_slot[slot_starts[s]..slot_starts[s + 1]]
                    .iter()
                    .map(|d| Reverse(*d)),
            );
            let taken = match (open.get(next_open), arrived.peek()) {
                (Some(o), Some(Reverse(a))) if a < o => arrived.pop().map(|Reverse(a)| a),
                (Some(o), _) => {
                    next_open += 1;
                    Some(*o)
                }
                (None, _) => arrived.pop().map(|Reverse(a)| a),
            };
            if let Some(deadline) = taken {
                served_total += 1;
                if deadline < at {
                    count_breach(deadline, at, &mut breaches);
                }
            }
        }
        let last = slots - 1;
        arrived.extend(
            by_slot[slot_starts[last]..slot_starts[last + 1]]
                .iter()
                .map(|d| Reverse(*d)),
        );
        let week_end = week_start + WEEK;
        for (h, end) in horizon_ends.iter().enumerate() {
            if *end == week_end {
                stopped[h] = served_total;
                let waiting = &open[next_open..];
                open_at_end[h] = (waiting.len() + arrived.len()) as u64;
                // Still waiting at the horizon's end past a deadline within
                // it: of the open queue, a range of its sorted rest.
                let due_in = |queue: &[DateTime<Utc>]| {
                    queue.partition_point(|d| d <= end) - queue.partition_point(|d| *d <= now)
                };
                breaches[h] += due_in(waiting) as u64;
                for Reverse(deadline) in arrived.iter() {
                    if now < *deadline && deadline <= end {
                        breaches[h] += 1;
                    }
                }
            }
        }
    }

    // Due by the end of week t: the open queue's (the breached included)
    // and the arrivals' so far.
    let mut due_by_week = Vec::with_capacity(horizon_weeks);
    let mut arrivals_due = 0;
    for (end, arriving) in week_ends.iter().zip(&arrivals_due_in_week) {
        arrivals_due += arriving;
        due_by_week.push(open.partition_point(|d| d <= end) as u64 + arrivals_due);
    }
    let mut figures = RunFigures::default();
    for weeks in HORIZONS {
        let weeks = weeks as usize;
        let mut by_grade = [0u64; 4];
        for drawn in &arrivals_by_week[..weeks] {
            for (g, count) in drawn.iter().enumerate() {
                by_grade[g] += count;
            }
        }
        figures.arrivals.push(by_grade);
        figures.needed.push(needed_per_week(&due_by_week[..weeks]));
        figures
            .needed_after
            .push(needed_after_first_week(&due_by_week[..weeks]));
    }
    figures.stops = stopped;
    figures.open_at_end = open_at_end;
    figures.breaches = breaches;
    figures
}

/// The fewest stops a week, held constant, that stop every clock by its
/// deadline at week granularity: `due[t - 1]` is the packages (open now or
/// arriving, the breached included) due by the end of week `t`; for each
/// `t`, that count divided by `t`, rounded up; the largest of those.
fn needed_per_week(due: &[u64]) -> u64 {
    due.iter()
        .enumerate()
        .map(|(i, due)| due.div_ceil(i as u64 + 1))
        .max()
        .unwrap_or(0)
}

/// The same bound from the second week on, once everything due by the end
/// of the first is stopped: for each `t` from 2, the packages due in weeks
/// 2 to `t` divided by `t - 1`, rounded up; the largest. A backlog makes
/// the first week's bound the largest, so this is the rate that holds the
/// timescales after it is cleared.
fn needed_after_first_week(due: &[u64]) -> u64 {
    let Some(first) = due.first() else {
        return 0;
    };
    due.iter()
        .enumerate()
        .skip(1)
        .map(|(i, due)| (due - first).div_ceil(i as u64))
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_gives_the_published_reference_values() {
        // The first outputs for seed 1234567 from the reference C code
        // (Vigna's splitmix64.c), as every port checks.
        let mut rng = SplitMix64::new(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
        assert_eq!(rng.next_u64(), 9_817_491_932_198_370_423);
    }

    #[test]
    fn below_stays_below_and_reaches_every_value() {
        let mut rng = SplitMix64::new(7);
        let mut seen = [0u32; 5];
        for _ in 0..1000 {
            let v = rng.below(5);
            assert!(v < 5);
            seen[v as usize] += 1;
        }
        assert!(seen.iter().all(|n| *n > 150), "{seen:?}");
    }

    #[test]
    fn ranges_take_nearest_rank_percentiles() {
        let r = Range::of((1..=10).rev().collect());
        assert_eq!(
            r,
            Range {
                low: 1,
                central: 5,
                high: 9
            }
        );
        assert_eq!(
            Range::of(vec![]),
            Range {
                low: 0,
                central: 0,
                high: 0
            }
        );
        assert!(r.contains(9.0) && r.contains(1.0) && !r.contains(9.5));
    }

    fn input(open_days: &[i64], stops: u64) -> ForecastInput {
        let now: DateTime<Utc> = "2024-03-06T12:00:00Z".parse().unwrap();
        ForecastInput {
            now,
            time_zone: chrono_tz::Europe::London,
            timescales: Timescales::default(),
            // Two weeks of history with no arrivals: only the open queue.
            arrivals: vec![[0; 4]; 2],
            stops: vec![stops; 2],
            open_deadlines: open_days.iter().map(|d| now + Duration::days(*d)).collect(),
            officer_rate: Some(2.0),
            seed: 1,
        }
    }

    /// Deadlines (days from now) of an open queue worked out by hand: two
    /// breached, three due in week 1, two in week 2, one in week 6, one
    /// beyond the 8 weeks.
    const QUEUE: [i64; 9] = [-3, -1, 2, 4, 6, 9, 12, 40, 70];

    #[test]
    fn the_needed_throughput_is_the_largest_weekly_demand_bound() {
        let f = forecast(&input(&QUEUE, 0)).unwrap();
        // Week 1: 2 breached + 3 = 5; week 2: 7 / 2 = 3.5 → 4; week 6:
        // 8 / 6 → 2. The largest is 5, in every future (no arrivals).
        for h in &f.horizons {
            assert_eq!(h.needed_per_week.central, 5, "{h:?}");
            assert_eq!(h.needed_per_week.low, h.needed_per_week.high);
            // 5 a week at 2 per officer: 3 officers (2.5 rounded up).
            assert_eq!(h.officers_needed.unwrap().central, 3);
            // After the first week: week 2 has 2 due (2 / 1 = 2); weeks 2
            // to 4, 2 (2 / 3 → 1); weeks 2 to 6, 3 (3 / 5 → 1); 2 to 8, 3
            // (3 / 7 → 1). The largest is 2: one officer at 2 a week.
            assert_eq!(h.needed_after_first_week.central, 2, "{h:?}");
            assert_eq!(
                h.needed_after_first_week.low,
                h.needed_after_first_week.high
            );
            assert_eq!(h.officers_after_first_week.unwrap().central, 1);
        }
        assert_eq!(f.already_breached, 2);
    }

    #[test]
    fn with_no_stops_every_deadline_in_the_horizon_is_missed_and_with_enough_none() {
        let none = forecast(&input(&QUEUE, 0)).unwrap();
        // 4 weeks: the deadlines at 2, 4, 6, 9 and 12 days; 8 weeks: and 40.
        assert_eq!(none.horizons[0].breaches.central, 5);
        assert_eq!(none.horizons[1].breaches.central, 6);
        assert_eq!(none.horizons[0].open_at_end.central, 9);
        assert_eq!(none.horizons[0].stops.central, 0);
        // 14 stops a week, one every 12 hours from 6 hours in, earliest
        // deadline first: the breached two go first, then each of the rest
        // is reached before its deadline; the queue is empty within a week.
        let enough = forecast(&input(&QUEUE, 14)).unwrap();
        assert_eq!(enough.horizons[1].breaches.central, 0);
        assert_eq!(enough.horizons[0].open_at_end.central, 0);
        assert_eq!(enough.horizons[0].stops.central, 9);
    }

    #[test]
    fn officers_are_whole_and_rounded_up() {
        assert_eq!(officers_for(10, 2.5), 4);
        assert_eq!(officers_for(11, 2.5), 5);
        assert_eq!(officers_for(0, 2.5), 0);
    }

    /// The simulation as first written: one heap holding the whole open
    /// queue, rebuilt in every future, and every count a scan of it. Kept
    /// as the reference the faster [`simulate`] must agree with.
    mod reference {
        use super::super::*;

        pub(super) fn simulate(
            input: &ForecastInput,
            rng: &mut SplitMix64,
            horizon_weeks: usize,
        ) -> RunFigures {
            let now = input.now;
            let history = input.arrivals.len() as u64;
            let horizon_ends: Vec<DateTime<Utc>> =
                HORIZONS.iter().map(|w| now + WEEK * *w as i32).collect();

            // The future's arrivals: (arrived, deadline, grade index), by arrival.
            let mut arrivals: Vec<(DateTime<Utc>, DateTime<Utc>, usize)> = Vec::new();
            let mut stops_per_week = Vec::with_capacity(horizon_weeks);
            let week_ms = WEEK.num_milliseconds() as u64;
            for k in 0..horizon_weeks {
                let week_start = now + WEEK * k as i32;
                let drawn = &input.arrivals[rng.below(history) as usize];
                for (g, grade) in RiskGrade::ALL.iter().enumerate() {
                    for _ in 0..drawn[g] {
                        let at = week_start + Duration::milliseconds(rng.below(week_ms) as i64);
                        let deadline = input
                            .timescales
                            .for_grade(*grade)
                            .after(at, input.time_zone);
                        arrivals.push((at, deadline, g));
                    }
                }
                stops_per_week.push(input.stops[rng.below(history) as usize]);
            }
            arrivals.sort();

            let mut figures = RunFigures::default();
            for end in &horizon_ends {
                let mut by_grade = [0u64; 4];
                for (_, _, g) in arrivals.iter().filter(|(at, _, _)| at < end) {
                    by_grade[*g] += 1;
                }
                figures.arrivals.push(by_grade);
            }
            for weeks in HORIZONS {
                figures
                    .needed
                    .push(needed_per_week(input, &arrivals, weeks as usize));
                figures.needed_after.push(needed_after_first_week(
                    input,
                    &arrivals,
                    weeks as usize,
                ));
            }

            // Earliest deadline first: a min-heap on (deadline, arrival order).
            let mut queue: BinaryHeap<Reverse<(DateTime<Utc>, usize)>> = input
                .open_deadlines
                .iter()
                .enumerate()
                .map(|(i, d)| Reverse((*d, i)))
                .collect();
            let mut breaches = vec![0u64; horizon_ends.len()];
            let mut stopped = vec![0u64; horizon_ends.len()];
            let mut open_at_end = vec![0u64; horizon_ends.len()];
            // A package reached late at `at` breached at its deadline; a horizon
            // that ended before `at` counted it already, as still waiting then.
            let count_breach =
                |deadline: DateTime<Utc>, at: DateTime<Utc>, breaches: &mut Vec<u64>| {
                    for (h, end) in horizon_ends.iter().enumerate() {
                        if now < deadline && deadline <= *end && at <= *end {
                            breaches[h] += 1;
                        }
                    }
                };
            let mut next_arrival = 0;
            let mut served_total = 0u64;
            for (k, stops) in stops_per_week.iter().enumerate() {
                let week_start = now + WEEK * k as i32;
                for i in 0..*stops {
                    // The week's stops spread evenly: the i-th at (i + ½) / stops.
                    let offset = (2 * i + 1) * week_ms / (2 * stops);
                    let at = week_start + Duration::milliseconds(offset as i64);
                    while next_arrival < arrivals.len() && arrivals[next_arrival].0 <= at {
                        let (_, deadline, _) = arrivals[next_arrival];
                        queue.push(Reverse((
                            deadline,
                            input.open_deadlines.len() + next_arrival,
                        )));
                        next_arrival += 1;
                    }
                    if let Some(Reverse((deadline, _))) = queue.pop() {
                        served_total += 1;
                        if deadline < at {
                            count_breach(deadline, at, &mut breaches);
                        }
                    }
                }
                let week_end = week_start + WEEK;
                while next_arrival < arrivals.len() && arrivals[next_arrival].0 < week_end {
                    let (_, deadline, _) = arrivals[next_arrival];
                    queue.push(Reverse((
                        deadline,
                        input.open_deadlines.len() + next_arrival,
                    )));
                    next_arrival += 1;
                }
                for (h, end) in horizon_ends.iter().enumerate() {
                    if *end == week_end {
                        stopped[h] = served_total;
                        open_at_end[h] = queue.len() as u64;
                        // Still waiting at the horizon's end past a deadline within it.
                        for Reverse((deadline, _)) in queue.iter() {
                            if now < *deadline && deadline <= end {
                                breaches[h] += 1;
                            }
                        }
                    }
                }
            }
            figures.stops = stopped;
            figures.open_at_end = open_at_end;
            figures.breaches = breaches;
            figures
        }

        /// The packages (open now or arriving) whose deadline falls by the end
        /// of week `t` from now, the breached included.
        fn due_by_week(
            input: &ForecastInput,
            arrivals: &[(DateTime<Utc>, DateTime<Utc>, usize)],
            t: usize,
        ) -> u64 {
            let by = input.now + WEEK * t as i32;
            (input.open_deadlines.iter().filter(|d| **d <= by).count()
                + arrivals.iter().filter(|(_, d, _)| *d <= by).count()) as u64
        }

        /// The fewest stops a week, held constant, that stop every clock by its
        /// deadline at week granularity over `weeks` weeks: for each `t` in
        /// `1..=weeks`, the packages due by the end of week `t` (breached ones
        /// included) divided by `t`, rounded up; the largest of those.
        fn needed_per_week(
            input: &ForecastInput,
            arrivals: &[(DateTime<Utc>, DateTime<Utc>, usize)],
            weeks: usize,
        ) -> u64 {
            (1..=weeks)
                .map(|t| due_by_week(input, arrivals, t).div_ceil(t as u64))
                .max()
                .unwrap_or(0)
        }

        /// The same bound from the second week on, once everything due by the end
        /// of the first is stopped: for each `t` in `2..=weeks`, the packages due
        /// in weeks 2 to `t` divided by `t - 1`, rounded up; the largest. A
        /// backlog makes the first week's bound the largest, so this is the rate
        /// that holds the timescales after it is cleared.
        fn needed_after_first_week(
            input: &ForecastInput,
            arrivals: &[(DateTime<Utc>, DateTime<Utc>, usize)],
            weeks: usize,
        ) -> u64 {
            let first = due_by_week(input, arrivals, 1);
            (2..=weeks)
                .map(|t| (due_by_week(input, arrivals, t) - first).div_ceil(t as u64 - 1))
                .max()
                .unwrap_or(0)
        }
    }

    #[test]
    fn every_future_is_the_reference_simulations_whatever_the_queue() {
        // Random queues (ties, breached, beyond the horizon, empty), random
        // history weeks: each future of the sorted-queue simulation equals
        // the one-heap reference's, drawn from the same generator.
        let mut gen = SplitMix64::new(20_261_207);
        for case in 0..200 {
            // Across the spring change, or the autumn one (whose repeated
            // hour makes a later receipt's "N days" deadline earlier).
            let now: DateTime<Utc> = if case % 2 == 0 {
                "2024-03-06T12:00:00Z".parse().unwrap()
            } else {
                "2024-10-02T00:30:00Z".parse().unwrap()
            };
            let open_count = gen.below(if case % 10 == 0 { 1 } else { 400 });
            let open_deadlines: Vec<DateTime<Utc>> = (0..open_count)
                .map(|_| now + Duration::hours(gen.below(24 * 100) as i64 - 24 * 30))
                .collect();
            let weeks = 1 + gen.below(12) as usize;
            let input = ForecastInput {
                now,
                time_zone: chrono_tz::Europe::London,
                timescales: Timescales::default(),
                // Every tenth case a busy hub's weeks: many arrivals to a
                // stop, or many stops to an arrival.
                arrivals: (0..weeks)
                    .map(|_| {
                        let busy = if case % 10 == 5 { 40 } else { 1 };
                        [
                            gen.below(6 * busy),
                            gen.below(10 * busy),
                            gen.below(20 * busy),
                            gen.below(20 * busy),
                        ]
                    })
                    .collect(),
                stops: (0..weeks)
                    .map(|_| gen.below(if case % 10 == 7 { 3000 } else { 80 }))
                    .collect(),
                open_deadlines,
                officer_rate: None,
                seed: case,
            };
            let mut open = input.open_deadlines.clone();
            open.sort_unstable();
            let zone = zone_offsets(&input, 8);
            let (mut fast, mut slow) = (SplitMix64::new(case), SplitMix64::new(case));
            for run in 0..5 {
                assert_eq!(
                    simulate(&input, &open, &zone, &mut fast, 8),
                    reference::simulate(&input, &mut slow, 8),
                    "case {case}, future {run}"
                );
            }
        }
    }
}
