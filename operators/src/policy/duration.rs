//! Policy durations: `"90s"`, `"5m"`, `"24h"`, `"7d"`, `"1h30m"` — event-time spans in microseconds.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A span of event time, written as a number and a unit (`ms`, `s`, `m`, `h`, `d`, `w`), or several
/// of them added up (`1h30m`). Its canonical form uses the largest unit that divides it exactly
/// (`"24h"` and `"1d"` are the same duration and print as `1d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(i64);

/// Units, largest first: (suffix, microseconds).
const UNITS: [(&str, i64); 6] = [
    ("w", 7 * 86_400_000_000),
    ("d", 86_400_000_000),
    ("h", 3_600_000_000),
    ("m", 60_000_000),
    ("s", 1_000_000),
    ("ms", 1_000),
];

impl Duration {
    /// From microseconds.
    pub const fn from_micros(micros: i64) -> Self {
        Duration(micros)
    }

    /// From whole seconds.
    pub const fn from_secs(secs: i64) -> Self {
        Duration(secs * 1_000_000)
    }

    /// Microseconds.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Parses `"24h"`, `"7d"`, `"1h30m"`, `"500ms"`, `"0s"`. Each part is a whole number and a unit.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let hint = "write a whole number followed by a unit (ms, s, m, h, d, w), e.g. 30s, 24h or 7d";
        let s = text.trim();
        if s.is_empty() {
            return Err(format!("empty duration: {hint}"));
        }
        let mut total: i64 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(format!("`{text}` is not a duration: {hint}"));
            }
            let (num, tail) = rest.split_at(digits);
            let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
            let (unit, tail) = tail.split_at(unit_len);
            if unit.is_empty() {
                return Err(format!("`{text}` has no unit: {hint}"));
            }
            let Some((_, per)) = UNITS.iter().find(|(u, _)| *u == unit) else {
                return Err(format!("`{text}`: unknown unit `{unit}`: {hint}"));
            };
            let n: i64 = num.parse().map_err(|_| format!("`{text}` is too long a duration"))?;
            total = n
                .checked_mul(*per)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| format!("`{text}` is too long a duration"))?;
            rest = tail;
        }
        Ok(Duration(total))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        for (unit, per) in UNITS {
            if self.0 % per == 0 {
                return write!(f, "{}{unit}", self.0 / per);
            }
        }
        // Sub-millisecond spans cannot be written in the policy, but print them faithfully.
        write!(f, "{}ms", self.0 as f64 / 1_000.0)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 30s, 24h or 7d")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                Err(E::custom(format!("`{v}` has no unit: write it with one, e.g. {v}s, {v}m or {v}h")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                Err(E::custom(format!("`{v}` is not a duration: write a whole number and a unit, e.g. 30s")))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_sums() {
        assert_eq!(Duration::parse("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(Duration::parse("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(Duration::parse("1w"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(Duration::parse("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(Duration::parse("500ms"), Ok(Duration::from_micros(500_000)));
        assert_eq!(Duration::parse(" 0s "), Ok(Duration::from_micros(0)));
    }

    #[test]
    fn rejects_garbage_with_a_hint() {
        for bad in ["", "h", "5", "5x", "1.5h", "-3h", "5 h", "99999999999999999999d", "9999999999999w"] {
            let e = Duration::parse(bad).expect_err(bad);
            assert!(e.contains("e.g.") || e.contains("too long"), "{bad}: {e}");
        }
    }

    #[test]
    fn canonical_form_uses_the_largest_exact_unit() {
        assert_eq!(Duration::parse("24h").expect("parse").to_string(), "1d");
        assert_eq!(Duration::parse("90m").expect("parse").to_string(), "90m");
        assert_eq!(Duration::parse("60s").expect("parse").to_string(), "1m");
        assert_eq!(Duration::parse("14d").expect("parse").to_string(), "2w");
        assert_eq!(Duration::parse("1500ms").expect("parse").to_string(), "1500ms");
        assert_eq!(Duration::from_micros(0).to_string(), "0s");
        for s in ["1d", "90m", "1500ms", "3w", "1h30m"] {
            let d = Duration::parse(s).expect("parse");
            assert_eq!(Duration::parse(&d.to_string()), Ok(d), "{s}");
        }
    }
}
