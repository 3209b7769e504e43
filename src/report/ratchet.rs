//! The ratchet backtest, pure: how often a rollback trigger (or a drift margin) would
//! have fired over a history, which of those fires were real (they overlap a known
//! event: an incident's time range, a rollback) and which were noise, and what value to
//! propose instead.
//!
//! - A trigger fires when `consecutive` check points in a row lie above its threshold,
//!   as the rollout machine counts streaks: a point without a reading breaks the streak,
//!   and a breach that goes on is one fire, not one per point.
//! - Tighter where the trigger never fired over enough history: a high quantile of the
//!   signal plus a margin, never below the signal's usual level, and only if that value
//!   would not have fired on the same history.
//! - Looser where most fires were noise: just above the strongest noise fire, only if
//!   every real fire would still fire.
//! - Keep otherwise, saying why.

use serde::Serialize;

/// Check points needed before a trigger is tightened: two days of hourly checks.
pub const MIN_POINTS: usize = 48;
/// Days a margin must have been judged on before it is tightened.
pub const MIN_DAYS: usize = 5;
/// Head-room above the signal's p99 (and its median) for a tighter threshold.
pub const HEADROOM: f64 = 0.2;

/// A rollback trigger: fires when the signal is above `above` for `consecutive` checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trigger {
    pub above: f64,
    pub consecutive: u32,
}

/// One check: when, and the value read (`None`: no reading, which breaks a streak).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub at_ns: i64,
    pub value: Option<f64>,
}

/// A version's check points, in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub version: String,
    pub points: Vec<Point>,
}

/// Something that really went wrong: an incident's time range, a rollback.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// `incident #1`, `rollback of v3`.
    pub label: String,
    #[serde(skip)]
    pub start_ns: i64,
    #[serde(skip)]
    pub end_ns: i64,
    /// The versions it concerns; empty: any.
    pub versions: Vec<String>,
}

impl Event {
    fn matches(&self, version: &str, start_ns: i64, end_ns: i64) -> bool {
        start_ns <= self.end_ns
            && self.start_ns <= end_ns
            && (self.versions.is_empty() || self.versions.iter().any(|v| v == version))
    }
}

/// One fire: a breach of at least `consecutive` points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fire {
    pub version: String,
    #[serde(skip)]
    pub start_ns: i64,
    #[serde(skip)]
    pub end_ns: i64,
    /// Points in the breach.
    pub points: usize,
    /// The highest value in the breach.
    pub peak: f64,
    /// The highest threshold at which this breach would still fire.
    pub strength: f64,
    /// The events it overlaps: empty for noise.
    pub events: Vec<String>,
}

impl Fire {
    pub fn real(&self) -> bool {
        !self.events.is_empty()
    }
}

/// Fires of one track: `(first, last, strength, peak)` index ranges of each breach.
fn breaches(points: &[Point], t: Trigger) -> Vec<(usize, usize, f64, f64)> {
    let n = t.consecutive.max(1) as usize;
    let mut out = Vec::new();
    let mut run_start: Option<usize> = None;
    let close = |start: usize, end: usize, out: &mut Vec<_>| {
        if end + 1 - start >= n {
            let values: Vec<f64> = points[start..=end]
                .iter()
                .map(|p| p.value.unwrap_or(f64::NAN))
                .collect();
            let strength = values
                .windows(n)
                .map(|w| w.iter().copied().fold(f64::INFINITY, f64::min))
                .fold(f64::NEG_INFINITY, f64::max);
            let peak = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            out.push((start, end, strength, peak));
        }
    };
    for (i, p) in points.iter().enumerate() {
        let above = p.value.is_some_and(|v| v > t.above);
        match (above, run_start) {
            (true, None) => run_start = Some(i),
            (false, Some(s)) => {
                close(s, i - 1, &mut out);
                run_start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = run_start {
        close(s, points.len() - 1, &mut out);
    }
    out
}

/// What a trigger would have done over the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backtest {
    pub fires: Vec<Fire>,
    pub real: usize,
    pub noise: usize,
    /// Check points with a reading.
    pub points: usize,
    pub median: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

/// Nearest-rank quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

pub fn backtest(tracks: &[Track], t: Trigger, events: &[Event]) -> Backtest {
    let mut fires = Vec::new();
    let mut values = Vec::new();
    for track in tracks {
        values.extend(track.points.iter().filter_map(|p| p.value));
        for (s, e, strength, peak) in breaches(&track.points, t) {
            let (start_ns, end_ns) = (track.points[s].at_ns, track.points[e].at_ns);
            let matched = events
                .iter()
                .filter(|ev| ev.matches(&track.version, start_ns, end_ns))
                .map(|ev| ev.label.clone())
                .collect();
            fires.push(Fire {
                version: track.version.clone(),
                start_ns,
                end_ns,
                points: e + 1 - s,
                peak,
                strength,
                events: matched,
            });
        }
    }
    values.sort_by(f64::total_cmp);
    let real = fires.iter().filter(|f| f.real()).count();
    Backtest {
        noise: fires.len() - real,
        real,
        fires,
        points: values.len(),
        median: quantile(&values, 0.5),
        p99: quantile(&values, 0.99),
        max: values.last().copied(),
    }
}

/// Which way a proposal moves a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Tighter,
    Looser,
    Keep,
}

impl Direction {
    pub fn word(self) -> &'static str {
        match self {
            Direction::Tighter => "tighten",
            Direction::Looser => "loosen",
            Direction::Keep => "keep",
        }
    }
}

/// A proposed value with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proposal {
    pub direction: Direction,
    pub current: f64,
    /// The proposed value (the current one when kept).
    pub value: f64,
    pub why: String,
    /// Fires and real fires the proposed value would have had on the same history.
    pub fires_after: Option<(usize, usize)>,
}

/// `x` rounded up to two significant digits (0.0372 → 0.038, 4321 → 4400).
pub fn round_up(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return x.max(0.0);
    }
    // Scaled by a whole power of ten, so that 0.07 comes back as 0.07; the tolerance
    // keeps float noise (0.07 × 1000 = 70.00000000000001) from rounding up.
    let e = x.log10().floor() as i32 - 1;
    if e < 0 {
        let d = 10f64.powi(-e);
        ((x * d) - 1e-9).ceil() / d
    } else {
        let m = 10f64.powi(e);
        ((x / m) - 1e-9).ceil() * m
    }
}

/// Writes a value with the precision it needs.
pub fn num(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let digits = (2 - x.abs().log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{x:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn keep(t: Trigger, why: String) -> Proposal {
    Proposal {
        direction: Direction::Keep,
        current: t.above,
        value: t.above,
        why,
        fires_after: None,
    }
}

/// The proposal for a trigger, from its backtest on `tracks`.
pub fn propose(tracks: &[Track], t: Trigger, events: &[Event], bt: &Backtest) -> Proposal {
    let after = |value: f64| {
        let b = backtest(tracks, Trigger { above: value, ..t }, events);
        (b.fires.len(), b.real)
    };
    if bt.fires.is_empty() {
        let (Some(median), Some(p99)) = (bt.median, bt.p99) else {
            return keep(t, "no readings in the period".into());
        };
        if bt.points < MIN_POINTS {
            return keep(
                t,
                format!(
                    "no fires, but only {} with a reading (tightening needs {MIN_POINTS})",
                    super::plural(bt.points, "check", "checks")
                ),
            );
        }
        // A high quantile plus head-room, never below the usual level plus head-room.
        let value = round_up((p99 * (1.0 + HEADROOM)).max(median * (1.0 + HEADROOM)));
        if value >= t.above {
            return keep(
                t,
                format!(
                    "no fires in {} checks; p99 {} leaves no room below {}",
                    bt.points,
                    num(p99),
                    num(t.above)
                ),
            );
        }
        let (fires, real) = after(value);
        if fires > 0 {
            return keep(
                t,
                format!(
                    "no fires in {} checks, but {} would have fired {}",
                    bt.points,
                    num(value),
                    super::plural(fires, "time", "times")
                ),
            );
        }
        return Proposal {
            direction: Direction::Tighter,
            current: t.above,
            value,
            why: format!(
                "0 fires in {} checks; signal median {}, p99 {}, max {}",
                bt.points,
                num(median),
                num(p99),
                num(bt.max.unwrap_or(p99))
            ),
            fires_after: Some((fires, real)),
        };
    }
    if bt.noise > bt.real {
        let noise_top = bt
            .fires
            .iter()
            .filter(|f| !f.real())
            .map(|f| f.strength)
            .fold(f64::NEG_INFINITY, f64::max);
        let real_low = bt
            .fires
            .iter()
            .filter(|f| f.real())
            .map(|f| f.strength)
            .fold(f64::INFINITY, f64::min);
        let value = round_up(noise_top);
        if value >= real_low {
            return keep(
                t,
                format!(
                    "{} of {} fires were noise, but noise reached {} and a real fire only {}: \
                     a higher threshold would miss it; try consecutive = {}",
                    bt.noise,
                    bt.fires.len(),
                    num(noise_top),
                    num(real_low),
                    t.consecutive + 1
                ),
            );
        }
        let (fires, real) = after(value);
        if real < bt.real {
            // A shorter breach may no longer overlap its event: not worth the risk.
            return keep(
                t,
                format!(
                    "{} of {} fires were noise, but at {} only {real} of {} real fires remain",
                    bt.noise,
                    bt.fires.len(),
                    num(value),
                    bt.real
                ),
            );
        }
        return Proposal {
            direction: Direction::Looser,
            current: t.above,
            value,
            why: format!(
                "{} of {} fires were noise (the strongest held at {}); {} keeps {real} of {} real",
                bt.noise,
                bt.fires.len(),
                num(noise_top),
                num(value),
                bt.real
            ),
            fires_after: Some((fires, real)),
        };
    }
    keep(
        t,
        format!(
            "{}, {} real: it caught what went wrong",
            super::plural(bt.fires.len(), "fire", "fires"),
            bt.real
        ),
    )
}

/// A drift margin (or ratio) judged on one window: failed or not, and the interval end
/// that the margin is compared with (the lower end of the rise / ratio).
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub version: String,
    pub start_ns: i64,
    pub end_ns: i64,
    pub failed: bool,
    pub bound: f64,
}

/// A margin's backtest over daily verdicts and its proposal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarginPlan {
    pub judged: usize,
    pub fails: usize,
    pub real: usize,
    pub noise: usize,
    /// The largest lower interval end on a day that did not fail.
    pub max_bound_ok: Option<f64>,
    pub proposal: Proposal,
}

/// Backtests a margin: `days` are the windows it was judged on; `floor` is the
/// smallest margin worth having (a rise below it is not worth an alarm).
pub fn margin_plan(days: &[Judged], current: f64, floor: f64, events: &[Event]) -> MarginPlan {
    let real_of = |d: &Judged| {
        events
            .iter()
            .any(|e| e.matches(&d.version, d.start_ns, d.end_ns))
    };
    let fails: Vec<&Judged> = days.iter().filter(|d| d.failed).collect();
    let real = fails.iter().filter(|d| real_of(d)).count();
    let noise = fails.len() - real;
    let max_bound_ok = days
        .iter()
        .filter(|d| !d.failed)
        .map(|d| d.bound)
        .fold(None, |m: Option<f64>, b| Some(m.map_or(b, |m| m.max(b))));
    let t = Trigger {
        above: current,
        consecutive: 1,
    };
    let fires_at = |m: f64| {
        let f: Vec<&Judged> = days.iter().filter(|d| d.bound > m).collect();
        (f.len(), f.iter().filter(|d| real_of(d)).count())
    };
    let proposal = if fails.is_empty() {
        match max_bound_ok {
            _ if days.len() < MIN_DAYS => keep(
                t,
                format!(
                    "no fails, but judged on {} (tightening needs {MIN_DAYS})",
                    super::plural(days.len(), "day", "days")
                ),
            ),
            None => keep(t, "no days judged".into()),
            Some(top) => {
                let value = round_up(top.max(floor));
                if value >= current {
                    keep(
                        t,
                        format!(
                            "no fails in {} days; the interval reached {} of {}",
                            days.len(),
                            num(top),
                            num(current)
                        ),
                    )
                } else {
                    Proposal {
                        direction: Direction::Tighter,
                        current,
                        value,
                        why: format!(
                            "0 fails in {} days; the interval's lower end never passed {}",
                            days.len(),
                            num(top)
                        ),
                        fires_after: Some(fires_at(value)),
                    }
                }
            }
        }
    } else if noise > real {
        let noise_top = fails
            .iter()
            .filter(|d| !real_of(d))
            .map(|d| d.bound)
            .fold(f64::NEG_INFINITY, f64::max);
        let real_low = fails
            .iter()
            .filter(|d| real_of(d))
            .map(|d| d.bound)
            .fold(f64::INFINITY, f64::min);
        let value = round_up(noise_top);
        if value >= real_low {
            keep(
                t,
                format!(
                    "{noise} of {} fails were noise, but they reached {} and a real one only {}",
                    fails.len(),
                    num(noise_top),
                    num(real_low)
                ),
            )
        } else {
            Proposal {
                direction: Direction::Looser,
                current,
                value,
                why: format!(
                    "{noise} of {} fails were noise, up to {}",
                    fails.len(),
                    num(noise_top)
                ),
                fires_after: Some(fires_at(value)),
            }
        }
    } else {
        keep(
            t,
            format!(
                "{} in {}, {real} real: it caught what went wrong",
                super::plural(fails.len(), "fail", "fails"),
                super::plural(days.len(), "day", "days")
            ),
        )
    };
    MarginPlan {
        judged: days.len(),
        fails: fails.len(),
        real,
        noise,
        max_bound_ok,
        proposal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000_000_000;

    fn track(version: &str, values: &[Option<f64>]) -> Track {
        Track {
            version: version.into(),
            points: values
                .iter()
                .enumerate()
                .map(|(i, v)| Point {
                    at_ns: i as i64 * H,
                    value: *v,
                })
                .collect(),
        }
    }

    fn event(label: &str, from_h: i64, to_h: i64, versions: &[&str]) -> Event {
        Event {
            label: label.into(),
            start_ns: from_h * H,
            end_ns: to_h * H,
            versions: versions.iter().map(|v| v.to_string()).collect(),
        }
    }

    /// A steady 1 % with two noise blips (one point at 6 %, two points at 7 %), then a
    /// real breach of five points at 9 % during an incident.
    fn known() -> Vec<Option<f64>> {
        let mut v = vec![Some(0.01); 100];
        v[10] = Some(0.06);
        v[30] = Some(0.07);
        v[31] = Some(0.07);
        for p in &mut v[80..85] {
            *p = Some(0.09);
        }
        v
    }

    #[test]
    fn fires_are_counted_once_per_breach_and_need_the_streak() {
        let t1 = Trigger {
            above: 0.05,
            consecutive: 1,
        };
        let b = backtest(&[track("v3", &known())], t1, &[]);
        assert_eq!(b.fires.len(), 3, "{:?}", b.fires);
        assert_eq!(
            b.fires.iter().map(|f| f.points).collect::<Vec<_>>(),
            [1, 2, 5]
        );
        let t2 = Trigger {
            consecutive: 2,
            ..t1
        };
        let b = backtest(&[track("v3", &known())], t2, &[]);
        assert_eq!(b.fires.len(), 2, "the single blip does not fire");
        assert_eq!(b.fires[0].strength, 0.07);
        // A missing reading breaks a streak, as in the rollout machine.
        let gap = [Some(0.09), None, Some(0.09), Some(0.09)];
        let b = backtest(&[track("v3", &gap)], t2, &[]);
        assert_eq!(b.fires.len(), 1);
        assert_eq!(b.fires[0].start_ns, 2 * H);
    }

    #[test]
    fn fires_are_matched_to_events_by_time_and_version() {
        let t = Trigger {
            above: 0.05,
            consecutive: 1,
        };
        let events = [
            event("incident #1", 78, 90, &["v3"]),
            event("incident #2", 28, 32, &["v2"]),
        ];
        let b = backtest(&[track("v3", &known())], t, &events);
        assert_eq!((b.real, b.noise), (1, 2));
        assert_eq!(b.fires[2].events, ["incident #1"]);
        assert!(b.fires[1].events.is_empty(), "another version's incident");
        let any = [event("rollback of v3", 30, 30, &[])];
        assert_eq!(backtest(&[track("v3", &known())], t, &any).real, 1);
    }

    #[test]
    fn mostly_noise_loosens_above_the_noise_and_keeps_the_real_fire() {
        let t = Trigger {
            above: 0.05,
            consecutive: 1,
        };
        let events = [event("incident #1", 78, 90, &["v3"])];
        let tracks = [track("v3", &known())];
        let b = backtest(&tracks, t, &events);
        let p = propose(&tracks, t, &events, &b);
        assert_eq!(p.direction, Direction::Looser, "{}", p.why);
        assert_eq!(p.value, 0.07);
        assert_eq!(p.fires_after, Some((1, 1)));
        assert!(p.why.contains("2 of 3 fires were noise"), "{}", p.why);
    }

    #[test]
    fn noise_that_reaches_the_real_fire_is_kept_with_a_hint() {
        let mut v = known();
        v[30] = Some(0.095);
        let t = Trigger {
            above: 0.05,
            consecutive: 1,
        };
        let events = [event("incident #1", 78, 90, &["v3"])];
        let tracks = [track("v3", &v)];
        let p = propose(&tracks, t, &events, &backtest(&tracks, t, &events));
        assert_eq!(p.direction, Direction::Keep);
        assert!(p.why.contains("consecutive = 2"), "{}", p.why);
    }

    #[test]
    fn a_quiet_stable_signal_tightens_but_never_below_its_level() {
        let t = Trigger {
            above: 0.06,
            consecutive: 2,
        };
        let values: Vec<Option<f64>> = (0..200)
            .map(|i| Some(0.02 + 0.005 * ((i % 7) as f64 / 6.0)))
            .collect();
        let tracks = [track("v2", &values)];
        let b = backtest(&tracks, t, &[]);
        assert!(b.fires.is_empty());
        let p = propose(&tracks, t, &[], &b);
        assert_eq!(p.direction, Direction::Tighter, "{}", p.why);
        // p99 0.025 + 20 % = 0.030: below 0.06, above the usual level.
        assert_eq!(p.value, 0.03);
        assert!(p.value > b.median.unwrap());
        assert_eq!(p.fires_after, Some((0, 0)));
        // Too little history: kept.
        let short = [track("v2", &values[..20])];
        let p = propose(&short, t, &[], &backtest(&short, t, &[]));
        assert_eq!(p.direction, Direction::Keep);
        assert!(p.why.contains("only 20 checks"), "{}", p.why);
    }

    #[test]
    fn real_fires_keep_the_trigger() {
        let t = Trigger {
            above: 0.08,
            consecutive: 2,
        };
        let events = [event("incident #1", 78, 90, &["v3"])];
        let tracks = [track("v3", &known())];
        let b = backtest(&tracks, t, &events);
        assert_eq!((b.real, b.noise), (1, 0));
        assert_eq!(propose(&tracks, t, &events, &b).direction, Direction::Keep);
    }

    fn day(i: i64, version: &str, failed: bool, bound: f64) -> Judged {
        Judged {
            version: version.into(),
            start_ns: i * 24 * H,
            end_ns: (i + 1) * 24 * H,
            failed,
            bound,
        }
    }

    #[test]
    fn margins_tighten_when_quiet_and_loosen_when_noisy() {
        let quiet: Vec<Judged> = (0..10).map(|i| day(i, "v2", false, -0.002)).collect();
        let p = margin_plan(&quiet, 0.01, 0.005, &[]);
        assert_eq!(p.proposal.direction, Direction::Tighter);
        assert_eq!(p.proposal.value, 0.005, "never below the floor");
        let mut noisy = quiet.clone();
        noisy[2] = day(2, "v2", true, 0.012);
        noisy[8] = day(8, "v3", true, 0.05);
        let events = [event("incident #1", 8 * 24, 8 * 24 + 5, &["v3"])];
        let p = margin_plan(&noisy, 0.01, 0.005, &events);
        assert_eq!((p.fails, p.real, p.noise), (2, 1, 1));
        assert_eq!(p.proposal.direction, Direction::Keep, "one real, one noise");
        noisy[4] = day(4, "v2", true, 0.011);
        let p = margin_plan(&noisy, 0.01, 0.005, &events);
        assert_eq!(p.proposal.direction, Direction::Looser);
        assert_eq!(p.proposal.value, 0.012);
        assert_eq!(p.proposal.fires_after, Some((1, 1)));
        let few: Vec<Judged> = quiet[..3].to_vec();
        assert_eq!(
            margin_plan(&few, 0.01, 0.005, &[]).proposal.direction,
            Direction::Keep
        );
    }

    #[test]
    fn rounding_and_numbers() {
        assert_eq!(round_up(0.0372), 0.038);
        assert_eq!(round_up(0.038), 0.038);
        assert_eq!(round_up(4321.0), 4400.0);
        assert_eq!(num(0.03), "0.03");
        assert_eq!(num(4400.0), "4400");
        assert_eq!(num(0.0123), "0.0123");
        assert_eq!(num(1.25), "1.25");
    }
}
