//! A review round: a few recent traces, drawn so that every version with traffic is seen
//! and refusals and errors are over-represented.
//!
//! 1. The pool: traces in the rubric's window (ending at the newest trace) that the
//!    reviewer has not scored yet.
//! 2. Versions share the round in proportion to their traffic in the pool, at least one
//!    slot each (largest remainder; the busiest first when versions outnumber slots).
//! 3. `flagged_share` of the round is reserved for refusals and errors, spread over the
//!    versions in proportion to their slots as far as they have any: a version without
//!    flagged traces passes its reservation on to the others.
//! 4. Within a version the reserved slots take its flagged traces, the other slots its
//!    whole remaining pool (flagged ones at their base rate), in order of a seeded hash of
//!    the trace id. The same seed draws the same traces, and a trace arriving later
//!    displaces one only if it ranks before it.
//!
//! The seed comes from the day and the round number: a new round or a new day draws
//! other traces.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use rusqlite::Connection;
use serde::Serialize;

use super::Rubric;
use crate::clock::rfc3339;
use crate::store::query::{self, Seek, TraceFilter, TraceRow};

pub const DAY_NS: i64 = 86_400 * 1_000_000_000;

/// At most this many of the window's newest traces make the pool.
const POOL_MAX: usize = 500_000;

/// A drawn round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub round: u32,
    pub seed: u64,
    pub reviewer: String,
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    /// Traces asked for (`[rubric] sample`).
    pub requested: usize,
    pub flagged_share: f64,
    /// Traces in the window the reviewer had already scored: left out.
    pub skipped: usize,
    pub strata: Vec<Stratum>,
    /// Version by version (as in `strata`), newest first within one.
    pub items: Vec<Item>,
}

/// One version's part of the round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stratum {
    pub version: String,
    /// The version's fingerprint id.
    pub version_id: String,
    /// Unscored traces in the window, and how many of them are refusals or errors.
    pub traffic: usize,
    pub flagged: usize,
    /// Slots in the round, and how many of them are reserved for flagged traces.
    pub slots: usize,
    pub reserved: usize,
}

/// One sampled trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    #[serde(flatten)]
    pub trace: TraceRow,
    /// Why it counts as flagged: `refusal`, `error`, `tool error`.
    pub flags: Vec<&'static str>,
    /// Drawn in the flagged reservation rather than from the version's whole pool.
    pub reserved: bool,
}

/// What makes a trace flagged (empty: it is not).
pub fn flags(t: &TraceRow) -> Vec<&'static str> {
    let mut out = Vec::new();
    if t.refusal {
        out.push("refusal");
    }
    if t.status == "error" {
        out.push("error");
    }
    if t.tool_errors > 0 {
        out.push("tool error");
    }
    out
}

/// The seed of `round` on the day of `now_ns`.
pub fn seed(now_ns: i64, round: u32) -> u64 {
    mix(((now_ns.div_euclid(DAY_NS) as u64) << 20) ^ u64::from(round))
}

/// splitmix64's finaliser: neighbouring inputs give unrelated outputs.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Where a trace ranks in a round: FNV-1a of its id (stable across builds), mixed with
/// the seed.
fn rank(seed: u64, trace_id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in trace_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h ^ seed)
}

/// Draws round `round` for `reviewer` from the cache.
pub fn draw(
    conn: &Connection,
    rubric: &Rubric,
    reviewer: &str,
    round: u32,
    now_ns: i64,
) -> rusqlite::Result<Sample> {
    let seed = seed(now_ns, round);
    let mut sample = Sample {
        round,
        seed,
        reviewer: reviewer.to_string(),
        window_start: None,
        window_end: None,
        requested: rubric.sample,
        flagged_share: rubric.flagged_share,
        skipped: 0,
        strata: Vec::new(),
        items: Vec::new(),
    };
    let Some(newest) = query::freshness(conn)?.0 else {
        return Ok(sample);
    };
    let start = newest + 1 - rubric.window.as_nanos();
    sample.window_start = Some(rfc3339(start));
    sample.window_end = Some(rfc3339(newest + 1));
    let scored = super::store::scored_traces(conn, reviewer)?;
    let filter = TraceFilter {
        since_ns: Some(start),
        ..TraceFilter::default()
    };
    let rows = query::traces_page(conn, &filter, Seek::Offset(0), POOL_MAX)?;
    let before = rows.len();
    let pool: Vec<TraceRow> = rows
        .into_iter()
        .filter(|r| !scored.contains(&r.pk))
        .collect();
    sample.skipped = before - pool.len();
    (sample.strata, sample.items) = pick(pool, rubric.sample, rubric.flagged_share, seed);
    Ok(sample)
}

/// One version's pool, ranked.
struct Group {
    stratum: Stratum,
    first_ns: i64,
    rows: Vec<(u64, TraceRow)>,
}

/// The pure part of [`draw`]: strata and picks from a pool of unscored traces.
pub fn pick(pool: Vec<TraceRow>, size: usize, share: f64, seed: u64) -> (Vec<Stratum>, Vec<Item>) {
    let mut groups = group(pool, seed);
    let traffic: Vec<usize> = groups.iter().map(|g| g.rows.len()).collect();
    let n = size.min(traffic.iter().sum());
    let slots = version_slots(n, &traffic);
    let caps: Vec<usize> = groups
        .iter()
        .zip(&slots)
        .map(|(g, s)| g.stratum.flagged.min(*s))
        .collect();
    let flagged = (n as f64 * share.clamp(0.0, 1.0)).round() as usize;
    let reserved = apportion(flagged, &slots, &caps);
    let mut items = Vec::new();
    for (i, g) in groups.iter_mut().enumerate() {
        g.stratum.slots = slots[i];
        g.stratum.reserved = reserved[i];
        items.extend(take(std::mem::take(&mut g.rows), slots[i], reserved[i]));
    }
    (groups.into_iter().map(|g| g.stratum).collect(), items)
}

/// The pool by version, oldest version first, each ranked by the seed.
fn group(pool: Vec<TraceRow>, seed: u64) -> Vec<Group> {
    let mut by_version: BTreeMap<String, Group> = BTreeMap::new();
    for row in pool {
        let g = by_version
            .entry(row.version_id.clone())
            .or_insert_with(|| Group {
                stratum: Stratum {
                    version: row.version.clone(),
                    version_id: row.version_id.clone(),
                    traffic: 0,
                    flagged: 0,
                    slots: 0,
                    reserved: 0,
                },
                first_ns: row.start_ns,
                rows: Vec::new(),
            });
        g.stratum.traffic += 1;
        g.stratum.flagged += usize::from(!flags(&row).is_empty());
        g.first_ns = g.first_ns.min(row.start_ns);
        g.rows.push((rank(seed, &row.id), row));
    }
    let mut groups: Vec<Group> = by_version.into_values().collect();
    groups.sort_by(|a, b| {
        (a.first_ns, &a.stratum.version_id).cmp(&(b.first_ns, &b.stratum.version_id))
    });
    for g in &mut groups {
        g.rows.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
    }
    groups
}

/// `slots` of a version's ranked rows: first `reserved` flagged ones, then the best
/// ranked of the rest. Newest first.
fn take(rows: Vec<(u64, TraceRow)>, slots: usize, reserved: usize) -> Vec<Item> {
    let mut chosen = vec![false; rows.len()];
    let flagged = (0..rows.len()).filter(|&i| !flags(&rows[i].1).is_empty());
    let reserve: Vec<usize> = flagged.take(reserved).collect();
    for &i in &reserve {
        chosen[i] = true;
    }
    let rest: Vec<usize> = (0..rows.len())
        .filter(|&i| !chosen[i])
        .take(slots.saturating_sub(reserve.len()))
        .collect();
    for &i in &rest {
        chosen[i] = true;
    }
    let mut items: Vec<Item> = rows
        .into_iter()
        .enumerate()
        .filter(|(i, _)| chosen[*i])
        .map(|(i, (_, trace))| Item {
            flags: flags(&trace),
            reserved: reserve.contains(&i),
            trace,
        })
        .collect();
    items.sort_by_key(|it| (Reverse(it.trace.start_ns), Reverse(it.trace.pk)));
    items
}

/// `n` slots across versions with `traffic` (each at least 1): one each, the rest in
/// proportion to traffic. With more versions than slots the busiest get one each.
fn version_slots(n: usize, traffic: &[usize]) -> Vec<usize> {
    let k = traffic.len();
    if n <= k {
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by_key(|&i| (Reverse(traffic[i]), i));
        let mut out = vec![0; k];
        for &i in order.iter().take(n) {
            out[i] = 1;
        }
        return out;
    }
    let caps: Vec<usize> = traffic.iter().map(|t| t.saturating_sub(1)).collect();
    let extra = apportion(n - k, traffic, &caps);
    extra.iter().map(|e| e + 1).collect()
}

/// Largest remainder (Hamilton): `total` seats in proportion to `weights`, none above
/// its cap. A party whose share exceeds its cap gets the cap, and the rest is
/// apportioned again among the others. All weights zero: equal shares.
fn apportion(total: usize, weights: &[usize], caps: &[usize]) -> Vec<usize> {
    let total = total.min(caps.iter().sum());
    let mut capped = vec![false; weights.len()];
    loop {
        let fixed: usize = (0..weights.len())
            .filter(|&i| capped[i])
            .map(|i| caps[i])
            .sum();
        let open: Vec<usize> = (0..weights.len()).filter(|&i| !capped[i]).collect();
        let seats = hamilton(total.saturating_sub(fixed), weights, &open);
        let over: Vec<usize> = open.into_iter().filter(|&i| seats[i] > caps[i]).collect();
        if over.is_empty() {
            let pick = |i: usize| if capped[i] { caps[i] } else { seats[i] };
            return (0..weights.len()).map(pick).collect();
        }
        for i in over {
            capped[i] = true;
        }
    }
}

/// `seats` among the `open` parties by largest remainder; ties go to the heavier, then
/// the earlier party.
fn hamilton(seats: usize, weights: &[usize], open: &[usize]) -> Vec<usize> {
    let all: u128 = open.iter().map(|&i| weights[i] as u128).sum();
    let weight = |i: usize| if all == 0 { 1 } else { weights[i] as u128 };
    let sum = if all == 0 { open.len() as u128 } else { all };
    let mut out = vec![0usize; weights.len()];
    let mut remainders = Vec::with_capacity(open.len());
    for &i in open {
        let q = seats as u128 * weight(i);
        out[i] = (q / sum) as usize;
        remainders.push((q % sum, i));
    }
    let given: usize = out.iter().sum();
    remainders.sort_by_key(|&(r, i)| (Reverse(r), Reverse(weights[i]), i));
    for &(_, i) in remainders.iter().take(seats - given) {
        out[i] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::{row, trace, version};
    use super::*;

    /// `n` traces of `label`, every `every`th one a refusal (0: none).
    fn rows(label: &str, n: usize, every: usize, from: i64) -> Vec<TraceRow> {
        (0..n)
            .map(|i| {
                let mut r = row(label, from + i as i64);
                r.refusal = every > 0 && i % every == 0;
                r
            })
            .collect()
    }

    fn ids(items: &[Item]) -> Vec<String> {
        items.iter().map(|i| i.trace.id.clone()).collect()
    }

    #[test]
    fn apportions_by_largest_remainder_within_caps() {
        assert_eq!(apportion(10, &[5, 3, 2], &[10, 10, 10]), [5, 3, 2]);
        assert_eq!(apportion(4, &[6, 4], &[6, 4]), [2, 2]);
        // A capped party's seats go to the others.
        assert_eq!(apportion(6, &[8, 1, 1], &[2, 10, 10]), [2, 2, 2]);
        assert_eq!(
            apportion(5, &[1, 1], &[1, 1]),
            [1, 1],
            "no more than the caps"
        );
        assert_eq!(apportion(3, &[0, 0, 0], &[5, 5, 5]), [1, 1, 1]);
    }

    #[test]
    fn every_version_with_traffic_is_represented() {
        let mut pool = rows("v1", 5000, 0, 0);
        pool.extend(rows("v2", 3000, 0, 10_000));
        pool.extend(rows("v3", 2, 0, 20_000));
        let (strata, items) = pick(pool.clone(), 12, 0.0, 1);
        let slots: Vec<(&str, usize)> = strata
            .iter()
            .map(|s| (s.version.as_str(), s.slots))
            .collect();
        assert_eq!(slots, [("v1", 7), ("v2", 4), ("v3", 1)]);
        assert_eq!(items.len(), 12);
        assert_eq!(items.iter().filter(|i| i.trace.version == "v3").count(), 1);
        // Fewer slots than versions: the busiest.
        let (strata, _) = pick(pool, 2, 0.0, 1);
        let got: Vec<usize> = strata.iter().map(|s| s.slots).collect();
        assert_eq!(got, [1, 1, 0]);
    }

    #[test]
    fn the_flagged_share_holds_even_when_flagged_traces_are_rare() {
        // 1 % refusals: a plain random sample of 10 would hold about 0.1 of them.
        let mut pool = rows("v1", 600, 100, 0);
        pool.extend(rows("v2", 400, 100, 10_000));
        for seed in 0..20 {
            let (strata, items) = pick(pool.clone(), 10, 0.4, seed);
            let flagged = items.iter().filter(|i| !i.flags.is_empty()).count();
            assert!(
                flagged >= 4,
                "seed {seed}: {flagged} flagged of {}",
                items.len()
            );
            assert_eq!(strata.iter().map(|s| s.reserved).sum::<usize>(), 4);
            assert_eq!(items.iter().filter(|i| i.reserved).count(), 4);
        }
        // Only two flagged traces exist, both in v2: both are drawn, v1 keeps its slots.
        let mut pool = rows("v1", 600, 0, 0);
        pool.extend(rows("v2", 400, 200, 10_000));
        let (strata, items) = pick(pool, 10, 0.4, 3);
        assert_eq!(items.iter().filter(|i| i.trace.refusal).count(), 2);
        assert_eq!((strata[0].slots, strata[0].reserved), (6, 0));
        assert_eq!((strata[1].slots, strata[1].reserved), (4, 2));
    }

    #[test]
    fn the_same_seed_draws_the_same_round_and_another_seed_another() {
        let mut pool = rows("v1", 800, 10, 0);
        pool.extend(rows("v2", 800, 10, 10_000));
        let a = ids(&pick(pool.clone(), 12, 0.4, seed(0, 0)).1);
        let mut shuffled = pool.clone();
        shuffled.reverse();
        assert_eq!(
            a,
            ids(&pick(shuffled, 12, 0.4, seed(0, 0)).1),
            "order of the pool"
        );
        let next_round = ids(&pick(pool.clone(), 12, 0.4, seed(0, 1)).1);
        let next_day = ids(&pick(pool, 12, 0.4, seed(DAY_NS, 0)).1);
        assert_ne!(a, next_round);
        assert_ne!(a, next_day);
        assert_eq!(
            seed(DAY_NS + 5, 2),
            seed(2 * DAY_NS - 1, 2),
            "one seed per day and round"
        );
    }

    #[test]
    fn a_round_skips_what_the_reviewer_already_scored() {
        let conn = crate::store::memory();
        let (v1, v2) = (version(&conn, "v1"), version(&conn, "v2"));
        let old = trace(&conn, v1, "00", 0, false, false); // outside the window
        let mut pks = Vec::new();
        for i in 0..20 {
            let v = if i < 12 { v1 } else { v2 };
            pks.push(trace(
                &conn,
                v,
                &format!("t{i:02}"),
                DAY_NS + i,
                i % 5 == 0,
                false,
            ));
        }
        let rubric = Rubric {
            sample: 30,
            window: crate::period::Period::hours(1),
            ..Rubric::default()
        };
        let score = super::super::store::Score {
            criterion: "grounded".into(),
            score: 3,
            scale: 5,
        };
        for pk in &pks[..5] {
            super::super::store::record(&conn, *pk, "ana", 1, std::slice::from_ref(&score), None)
                .unwrap();
        }
        let s = draw(&conn, &rubric, "ana", 0, DAY_NS).unwrap();
        let drawn: Vec<i64> = s.items.iter().map(|i| i.trace.pk).collect();
        assert_eq!(s.skipped, 5);
        assert_eq!(drawn.len(), 15, "everything left in the window");
        assert!(drawn.iter().all(|pk| !pks[..5].contains(pk) && *pk != old));
        // Another reviewer still gets them.
        assert_eq!(
            draw(&conn, &rubric, "bo", 0, DAY_NS).unwrap().items.len(),
            20
        );
    }
}
