//! Quality sampling: every week someone scores a few traces against a human rubric.
//!
//! The rubric lives in `relops.toml` (`[rubric]`, see [`Rubric`]); [`sample`] draws a
//! small, seeded, stratified sample of recent traces (every version with traffic, refusals
//! and errors over-represented); [`store`] keeps the scores per trace, criterion and
//! reviewer in `review_scores` and averages them per version for the weekly memo.

pub mod sample;
pub mod store;

use serde::{Deserialize, Serialize};

use crate::period::Period;

/// `[rubric]`: how a review round is drawn and what is scored.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rubric {
    /// Traces per review round.
    pub sample: usize,
    /// How far back a round samples, ending at the newest trace.
    pub window: Period,
    /// The share of a round reserved for refusals and errors (on top of their base rate
    /// in the rest of the round).
    pub flagged_share: f64,
    /// What a reviewer scores (`[[rubric.criterion]]`).
    #[serde(rename = "criterion")]
    pub criteria: Vec<Criterion>,
}

impl Default for Rubric {
    fn default() -> Self {
        Self {
            sample: 12,
            window: Period::secs(7 * 86_400),
            flagged_share: 0.4,
            criteria: Vec::new(),
        }
    }
}

/// One `[[rubric.criterion]]`: scored `1..=scale`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    pub name: String,
    pub scale: u8,
    pub description: String,
}

/// Scales stay within single digit keys (1 is the worst score, so 2 is the smallest scale).
pub const SCALES: std::ops::RangeInclusive<u8> = 2..=9;

/// Where a rubric problem is: the section itself or the `i`th criterion.
#[derive(Debug, Clone, PartialEq)]
pub enum Place {
    Rubric(&'static str),
    Criterion(usize, &'static str),
}

impl Rubric {
    /// What serde cannot check; the problem's place and message.
    pub fn check(&self) -> Result<(), (Place, String)> {
        if self.sample == 0 {
            return Err((
                Place::Rubric("sample"),
                "a round needs at least 1 trace".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.flagged_share) {
            let msg = format!("{} is not a share in [0, 1]", self.flagged_share);
            return Err((Place::Rubric("flagged_share"), msg));
        }
        if self.window.as_secs() == 0 {
            return Err((Place::Rubric("window"), "the window is empty".into()));
        }
        for (i, c) in self.criteria.iter().enumerate() {
            let named = |key, msg: String| Err((Place::Criterion(i, key), msg));
            if !valid_name(&c.name) {
                return named(
                    "name",
                    format!(
                        "criterion {:?}: use letters, digits, `-` and `_` (it is typed as NAME=N)",
                        c.name
                    ),
                );
            }
            if self.criteria[..i].iter().any(|o| o.name == c.name) {
                return named("name", format!("a second criterion named {:?}", c.name));
            }
            if !SCALES.contains(&c.scale) {
                return named(
                    "scale",
                    format!(
                        "criterion {:?}: scale {} is outside 2..=9 (scores are single digit keys)",
                        c.name, c.scale
                    ),
                );
            }
        }
        Ok(())
    }

    pub fn criterion(&self, name: &str) -> Option<&Criterion> {
        self.criteria.iter().find(|c| c.name == name)
    }

    /// A score checked against the rubric; the error names the criterion and its range.
    pub fn checked(&self, name: &str, score: i64) -> Result<&Criterion, String> {
        let Some(c) = self.criterion(name) else {
            let known: Vec<&str> = self.criteria.iter().map(|c| c.name.as_str()).collect();
            return Err(if known.is_empty() {
                "no [[rubric.criterion]] in the config: add some to score traces".into()
            } else {
                format!(
                    "no criterion {name:?} in [rubric]; known: {}",
                    known.join(", ")
                )
            });
        };
        if !(1..=i64::from(c.scale)).contains(&score) {
            return Err(format!(
                "criterion {name:?}: score {score} is outside 1..={}",
                c.scale
            ));
        }
        Ok(c)
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rubric(criteria: &[(&str, u8)]) -> Rubric {
        Rubric {
            criteria: criteria
                .iter()
                .map(|(n, s)| Criterion {
                    name: n.to_string(),
                    scale: *s,
                    description: "d".into(),
                })
                .collect(),
            ..Rubric::default()
        }
    }

    #[test]
    fn checks_scales_names_and_shares() {
        assert!(rubric(&[("grounded", 5), ("tone", 3)]).check().is_ok());
        let (place, msg) = rubric(&[("grounded", 5), ("tone", 12)])
            .check()
            .unwrap_err();
        assert_eq!(place, Place::Criterion(1, "scale"));
        assert!(msg.contains("\"tone\"") && msg.contains("2..=9"), "{msg}");
        let (place, msg) = rubric(&[("a", 5), ("a", 3)]).check().unwrap_err();
        assert_eq!(place, Place::Criterion(1, "name"));
        assert!(msg.contains("second criterion named \"a\""), "{msg}");
        assert!(rubric(&[("has space", 5)]).check().is_err());
        let share = Rubric {
            flagged_share: 1.5,
            ..Rubric::default()
        };
        assert_eq!(share.check().unwrap_err().0, Place::Rubric("flagged_share"));
    }

    #[test]
    fn scores_are_checked_against_the_criterion() {
        let r = rubric(&[("grounded", 5)]);
        assert_eq!(r.checked("grounded", 5).unwrap().scale, 5);
        let high = r.checked("grounded", 6).unwrap_err();
        assert!(
            high.contains("\"grounded\"") && high.contains("1..=5"),
            "{high}"
        );
        let unknown = r.checked("tone", 1).unwrap_err();
        assert!(unknown.contains("known: grounded"), "{unknown}");
        assert!(
            rubric(&[])
                .checked("x", 1)
                .unwrap_err()
                .contains("no [[rubric")
        );
    }
}

/// Traces and versions in an in-memory cache, for the unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use rusqlite::{Connection, params};

    use crate::model::Fingerprint;
    use crate::store::query::TraceRow;

    /// A successful trace row of `label` (fingerprint `fp-<label>`); `key` orders it.
    pub fn row(label: &str, key: i64) -> TraceRow {
        TraceRow {
            version: label.into(),
            version_id: format!("fp-{label}"),
            ..TraceRow::bare(key, key)
        }
    }

    pub fn version(conn: &Connection, label: &str) -> i64 {
        let f = Fingerprint {
            label: Some(label.into()),
            ..Default::default()
        };
        crate::store::versions::ensure_version(conn, &f, 1).unwrap()
    }

    /// A trace of `version` starting at `start_ns`; its row id.
    pub fn trace(
        conn: &Connection,
        version: i64,
        trace_id: &str,
        start_ns: i64,
        refusal: bool,
        error: bool,
    ) -> i64 {
        conn.query_row(
            "INSERT INTO traces (source, trace_id, version_id, name, start_ns, end_ns,
                duration_ms, error, refusal, safety_events, tool_calls, tool_errors,
                retrievals, retrieval_empty, tokens_in, tokens_out, cost_usd, output_chars,
                span_count, imported_at)
             VALUES ('s', ?1, ?2, 'n', ?3, ?3 + 1, 1, ?4, ?5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0)
             RETURNING id",
            params![trace_id, version, start_ns, error, refusal],
            |r| r.get(0),
        )
        .unwrap()
    }
}
