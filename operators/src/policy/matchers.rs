//! The value types of gate-rule matchers that are more than plain names: CWE ids and the
//! direct/transitive dependency kind. Each reads from YAML with an error at the value when it is
//! not one (so the policy error carries its line and column).

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A weakness id, `CWE-<number>` (read in any case: `cwe-79` is `CWE-79`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cwe(pub u32);

impl Cwe {
    /// The id `text` names (`CWE-79`, any case, blanks around ignored), if it is one.
    pub fn parse(text: &str) -> Option<Cwe> {
        let text = text.trim();
        let (prefix, digits) = text.split_at_checked(4)?;
        if !prefix.eq_ignore_ascii_case("CWE-") || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(Cwe)
    }
}

impl fmt::Display for Cwe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CWE-{}", self.0)
    }
}

impl Serialize for Cwe {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cwe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Cwe;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a CWE id such as CWE-79")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Cwe, E> {
                Cwe::parse(v).ok_or_else(|| match v.trim().parse::<u32>() {
                    Ok(n) => E::custom(format!("`{v}` is not a CWE id: write CWE-{n}")),
                    Err(_) => E::custom(format!("`{v}` is not a CWE id: write CWE-<number>, e.g. CWE-79")),
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cwe, E> {
                Err(E::custom(format!("`{v}` is not a CWE id: write CWE-{v}")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cwe, E> {
                Err(E::custom(format!("`{v}` is not a CWE id: write CWE-<number>, e.g. CWE-79")))
            }
        }
        d.deserialize_str(V)
    }
}

/// How the release depends on a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dependency {
    /// The release depends on it itself (its inventory says `direct`).
    Direct,
    /// Only through other components (its inventory says not `direct`).
    Transitive,
}

impl Dependency {
    /// Whether a component whose inventory says `direct` (`None`: does not say) is of this kind. A
    /// component whose directness is not known is of neither.
    pub fn holds(self, direct: Option<bool>) -> bool {
        match self {
            Dependency::Direct => direct == Some(true),
            Dependency::Transitive => direct == Some(false),
        }
    }
}

/// The source of an advisory, as the `sources` matcher names it: its id's prefix up to the first
/// `-` (`GHSA` of `GHSA-xxxx-xxxx-xxxx`, `RUSTSEC`, `PYSEC`, `GO`, `ALSA` of `ALSA-2022:0267`,
/// `DSA`, `USN`, `CVE` — a CSAF advisory's id is its CVE); an id without `-` is its own source.
pub fn advisory_source(id: &str) -> &str {
    id.split_once('-').map_or(id, |(prefix, _)| prefix)
}

/// Whether a component whose inventory gives scope `scope` is in one of `scopes` (ASCII
/// case-insensitive). A scope lists one or more names separated by commas (a lockfile's dependency
/// groups: `dev,optional`), any of which may match; a component without a scope is `required`
/// (CycloneDX's default, and a lockfile's runtime dependencies carry no group).
pub fn scope_matches(scopes: &[String], scope: Option<&str>) -> bool {
    let mut names = scope.unwrap_or("required").split(',').map(str::trim).filter(|s| !s.is_empty());
    names.any(|n| scopes.iter().any(|s| s.trim().eq_ignore_ascii_case(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cwe_ids_read_in_any_case_and_print_canonically() {
        assert_eq!(Cwe::parse(" cwe-0079 "), Some(Cwe(79)));
        assert_eq!(Cwe::parse("CWE-79").map(|c| c.to_string()).as_deref(), Some("CWE-79"));
        for bad in ["79", "CWE-", "CWE-7a", "CWE79", "XSS", "CWE-99999999999"] {
            assert_eq!(Cwe::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn sources_are_id_prefixes() {
        assert_eq!(advisory_source("GHSA-h4j8-mmj4-9fpv"), "GHSA");
        assert_eq!(advisory_source("ALSA-2022:0267"), "ALSA");
        assert_eq!(advisory_source("CVE-2021-44228"), "CVE");
        assert_eq!(advisory_source("odd"), "odd");
    }

    #[test]
    fn scopes_match_any_listed_group_and_no_scope_is_required() {
        let dev = vec!["dev".to_string(), "Test".to_string()];
        assert!(scope_matches(&dev, Some("dev")));
        assert!(scope_matches(&dev, Some("optional, test")));
        assert!(!scope_matches(&dev, Some("optional")));
        assert!(!scope_matches(&dev, None));
        assert!(scope_matches(&["required".to_string()], None));
        assert!(!scope_matches(&["required".to_string()], Some("excluded")));
    }

    #[test]
    fn unknown_directness_is_neither_direct_nor_transitive() {
        assert!(Dependency::Direct.holds(Some(true)) && !Dependency::Direct.holds(Some(false)));
        assert!(Dependency::Transitive.holds(Some(false)) && !Dependency::Transitive.holds(Some(true)));
        assert!(!Dependency::Direct.holds(None) && !Dependency::Transitive.holds(None));
    }
}
