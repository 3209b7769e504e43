//! Human durations such as `90s`, `15m`, `24h`, `7d`, used in config and on the command line.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// A length of time, whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Period {
    secs: u64,
}

/// The longest period read from text: 100 years. Times are i64 nanoseconds (about 292
/// years either side of 1970), so a period this long can be added to or taken from
/// now a couple of times without overflowing.
pub const MAX_SECS: u64 = 100 * 365 * 86_400;

impl Period {
    pub const fn secs(secs: u64) -> Self {
        Self { secs }
    }

    pub const fn hours(h: u64) -> Self {
        Self { secs: h * 3600 }
    }

    pub const fn as_secs(self) -> u64 {
        self.secs
    }

    /// Saturates rather than overflowing (a period built in code can exceed [`MAX_SECS`]).
    pub const fn as_nanos(self) -> i64 {
        if self.secs > (i64::MAX / 1_000_000_000) as u64 {
            i64::MAX
        } else {
            self.secs as i64 * 1_000_000_000
        }
    }
}

impl FromStr for Period {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, unit) = s.split_at(split);
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("invalid duration {s:?}: expected e.g. 90s, 15m, 24h, 7d"))?;
        let scale = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => {
                return Err(format!(
                    "invalid duration {s:?}: unit must be s, m, h, d or w"
                ));
            }
        };
        match n.checked_mul(scale) {
            Some(secs) if secs <= MAX_SECS => Ok(Self::secs(secs)),
            _ => Err(format!(
                "invalid duration {s:?}: longer than 100 years (5200w)"
            )),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = [(7 * 86_400, "w"), (86_400, "d"), (3600, "h"), (60, "m")];
        for (size, unit) in units {
            if self.secs >= size && self.secs.is_multiple_of(size) {
                return write!(f, "{}{unit}", self.secs / size);
            }
        }
        write!(f, "{}s", self.secs)
    }
}

/// Written as it is read (`90s`, `15m`): hashes and reports show what the config says.
impl serde::Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!("90s".parse::<Period>().unwrap().as_secs(), 90);
        assert_eq!("15m".parse::<Period>().unwrap().as_secs(), 900);
        assert_eq!("7d".parse::<Period>().unwrap(), Period::hours(168));
    }

    #[test]
    fn rejects_garbage() {
        assert!("soon".parse::<Period>().is_err());
        assert!("10y".parse::<Period>().is_err());
        assert!("".parse::<Period>().is_err());
    }

    #[test]
    fn refuses_what_would_overflow_a_timestamp() {
        // `since:30500000000000000w` overflowed the product (a panic in debug builds) and
        // `since:9300000000s` the nanoseconds.
        for s in [
            "30500000000000000w",
            "9300000000s",
            "36501d",
            "18446744073709551615s",
        ] {
            let e = s.parse::<Period>().unwrap_err();
            assert!(e.contains("longer than 100 years"), "{s}: {e}");
        }
        assert_eq!(
            "5200w".parse::<Period>().unwrap().as_secs(),
            5200 * 7 * 86_400
        );
        assert_eq!(Period::secs(u64::MAX).as_nanos(), i64::MAX);
    }

    #[test]
    fn displays_largest_whole_unit() {
        assert_eq!(Period::hours(24).to_string(), "1d");
        assert_eq!(Period::secs(5400).to_string(), "90m");
    }
}
