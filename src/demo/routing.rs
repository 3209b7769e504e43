//! Which release serves the demo's traffic: a stable version and an optional canary
//! with a weight in percent. The workflow server's admin endpoint changes it
//! (`POST /admin/active`, what the demo's rollback procedure calls) and the live feed
//! reads it for every request, so a rollback shows in the traffic that follows.

use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use super::workflow::{self, RELEASES};

/// The demo's story at the live edge: v2 stable, v3 in canary at this weight.
pub const CANARY_WEIGHT: u8 = 5;

/// Routing shared by the server (which changes it) and the feed (which follows it).
pub type Shared = Arc<RwLock<Routing>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Routing {
    pub stable: &'static str,
    pub canary: Option<Canary>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Canary {
    pub version: &'static str,
    /// Share of requests in percent, 1..=100.
    pub weight: u8,
}

/// The body of `POST /admin/active`: `{"version": "v2"}` makes v2 stable and clears
/// the canary (a rollback); `{"version": "v3", "canary_weight": 5}` sets a canary.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    pub version: String,
    #[serde(default)]
    pub canary_weight: Option<u8>,
}

impl Default for Routing {
    fn default() -> Self {
        Self {
            stable: "v2",
            canary: Some(Canary {
                version: "v3",
                weight: CANARY_WEIGHT,
            }),
        }
    }
}

impl Routing {
    pub fn shared(self) -> Shared {
        Arc::new(RwLock::new(self))
    }

    /// The release that serves request number `n`. Deterministic: a canary at weight
    /// `w` takes exactly `w` of every 100 consecutive requests, spread evenly, so a
    /// 5 % canary is 5 %, not 5 % on average.
    pub fn pick(&self, n: u64) -> &'static str {
        match self.canary {
            Some(c) if crosses(n, c.weight) => c.version,
            _ => self.stable,
        }
    }

    /// Applies an admin switch; the message says what was wrong with it.
    pub fn apply(&mut self, s: &Switch) -> Result<(), String> {
        let Some(release) = workflow::release(&s.version) else {
            let known: Vec<&str> = RELEASES.iter().map(|r| r.label).collect();
            return Err(format!(
                "unknown version {:?}; known: {}",
                s.version,
                known.join(", ")
            ));
        };
        match s.canary_weight {
            None => {
                self.stable = release.label;
                self.canary = None;
            }
            Some(w) if !(1..=100).contains(&w) => {
                return Err(format!("canary_weight must be 1..=100, not {w}"));
            }
            Some(_) if release.label == self.stable => {
                return Err(format!(
                    "{} is the stable version; a canary needs another",
                    release.label
                ));
            }
            Some(weight) => {
                self.canary = Some(Canary {
                    version: release.label,
                    weight,
                });
            }
        }
        Ok(())
    }
}

/// Whether request `n` is one of the `weight` per hundred: the running count
/// `⌊n·w/100⌋` steps up at it.
fn crosses(n: u64, weight: u8) -> bool {
    let w = u64::from(weight);
    (n + 1) * w / 100 > n * w / 100
}

/// Reads the shared routing (a poisoned lock still holds a valid value).
pub fn current(shared: &Shared) -> Routing {
    *shared.read().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn switch(version: &str, canary_weight: Option<u8>) -> Switch {
        Switch {
            version: version.into(),
            canary_weight,
        }
    }

    #[test]
    fn a_canary_gets_exactly_its_weight_of_every_hundred() {
        for weight in [1, 5, 30, 99, 100] {
            let r = Routing {
                stable: "v2",
                canary: Some(Canary {
                    version: "v3",
                    weight,
                }),
            };
            for hundred in 0..5u64 {
                let n = (hundred * 100..hundred * 100 + 100)
                    .filter(|&n| r.pick(n) == "v3")
                    .count();
                assert_eq!(n, usize::from(weight), "weight {weight}");
            }
        }
        // Spread evenly: at 5 %, one in twenty.
        let picks: Vec<u64> = (0..60)
            .filter(|&n| Routing::default().pick(n) == "v3")
            .collect();
        assert_eq!(picks, [19, 39, 59]);
    }

    #[test]
    fn a_rollback_makes_the_version_stable_and_clears_the_canary() {
        let mut r = Routing::default();
        r.apply(&switch("v2", None)).unwrap();
        assert_eq!(
            r,
            Routing {
                stable: "v2",
                canary: None
            }
        );
        assert!((0..1000).all(|n| r.pick(n) == "v2"));
        r.apply(&switch("v3", Some(25))).unwrap();
        assert_eq!(r.canary.map(|c| (c.version, c.weight)), Some(("v3", 25)));
    }

    #[test]
    fn bad_switches_are_refused_and_change_nothing() {
        let mut r = Routing::default();
        let err = r.apply(&switch("v9", None)).unwrap_err();
        assert_eq!(err, "unknown version \"v9\"; known: v1, v2, v3");
        for w in [0, 101] {
            let err = r.apply(&switch("v3", Some(w))).unwrap_err();
            assert!(err.contains("1..=100"), "{err}");
        }
        let err = r.apply(&switch("v2", Some(10))).unwrap_err();
        assert!(err.contains("v2 is the stable version"), "{err}");
        assert_eq!(r, Routing::default());
        // Unknown fields are refused too (a typo must not read as a rollback).
        let typo = serde_json::from_str::<Switch>(r#"{"version":"v3","weight":5}"#);
        assert!(typo.unwrap_err().to_string().contains("unknown field"));
    }
}
