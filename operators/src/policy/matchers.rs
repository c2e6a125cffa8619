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

/// The `licenses` matcher: a finding matches when its component's licence is not acceptable under
/// `allow` and `deny` (or, with `unknown`, when its licence is not known).
///
/// A term (an SPDX id, `id+`, `id WITH exception`) is acceptable when an `allow` entry names it (or
/// there is no `allow` list) and no `deny` entry does (see [`crate::spdx::Term::named_by`]). An
/// expression is acceptable when some way of taking it uses only acceptable terms (`MIT OR
/// GPL-3.0-only` is, under `deny: [GPL-3.0-only]`; `MIT AND GPL-3.0-only` is not). A component with
/// several licence entries is under all of them: each must be acceptable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LicenseMatch {
    /// SPDX licence ids (or `id+`, `id WITH exception`) a component may be under. Empty: any not
    /// denied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// SPDX licence ids a component may not be under.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    /// Whether a component whose licence is not known — none given, or one that is not an SPDX
    /// expression (a licence name such as `Apache License 2.0`) — matches. Default: it does not.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unknown: bool,
}

/// What a [`LicenseMatch`] makes of a component's licences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseJudgement {
    /// Every licence entry can be taken under acceptable terms.
    Acceptable,
    /// Some entry cannot.
    NotAcceptable,
    /// None is given, or some entry is not an SPDX expression (and none is known not acceptable).
    Unknown,
}

impl LicenseMatch {
    /// Whether the term is acceptable: allowed (or no allow list) and not denied.
    pub fn accepts(&self, term: &crate::spdx::Term) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|a| term.named_by(a)))
            && !self.deny.iter().any(|d| term.named_by(d))
    }

    /// What the lists make of a component under every one of `licenses` (SPDX expressions).
    pub fn judge(&self, licenses: &[String]) -> LicenseJudgement {
        let mut unknown = licenses.is_empty();
        for l in licenses {
            match crate::spdx::Expression::parse(l) {
                Ok(e) if !e.satisfiable(&|t| self.accepts(t)) => return LicenseJudgement::NotAcceptable,
                Ok(_) => {}
                Err(_) => unknown = true,
            }
        }
        if unknown { LicenseJudgement::Unknown } else { LicenseJudgement::Acceptable }
    }

    /// Whether a component under `licenses` matches: its licence is not acceptable, or not known
    /// and `unknown` is set.
    pub fn matches(&self, licenses: &[String]) -> bool {
        match self.judge(licenses) {
            LicenseJudgement::Acceptable => false,
            LicenseJudgement::NotAcceptable => true,
            LicenseJudgement::Unknown => self.unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_allow_list_needs_one_alternative_fully_allowed() {
        let m = LicenseMatch { allow: list(&["MIT", "Apache-2.0", "BSD-3-Clause"]), ..LicenseMatch::default() };
        assert!(!m.matches(&list(&["MIT OR Apache-2.0"])));
        assert!(!m.matches(&list(&["GPL-3.0-only OR MIT"])), "MIT can be chosen");
        assert!(m.matches(&list(&["MIT AND GPL-3.0-only"])), "AND needs both");
        assert!(m.matches(&list(&["LGPL-2.1-only"])));
        assert!(m.matches(&list(&["MIT", "GPL-3.0-only"])), "several entries: each applies");
        assert!(!m.matches(&list(&["(MIT OR GPL-2.0) AND BSD-3-Clause"])));
    }

    #[test]
    fn a_deny_list_matches_what_cannot_avoid_a_denied_id() {
        let m = LicenseMatch { deny: list(&["GPL-3.0-only", "AGPL-3.0"]), ..LicenseMatch::default() };
        assert!(!m.matches(&list(&["MIT OR GPL-3.0-only"])), "MIT avoids it");
        assert!(m.matches(&list(&["GPL-3.0-only"])));
        assert!(m.matches(&list(&["Apache-2.0 AND gpl-3.0-only"])));
        assert!(m.matches(&list(&["AGPL-3.0+"])), "an id names its + form");
        assert!(!m.matches(&list(&["MIT"])));
        // Both lists: allowed and not denied.
        let both = LicenseMatch { allow: list(&["GPL-3.0-only", "MIT"]), deny: list(&["GPL-3.0-only"]), ..m };
        assert!(both.matches(&list(&["GPL-3.0-only"])) && !both.matches(&list(&["GPL-3.0-only OR MIT"])));
    }

    #[test]
    fn unknown_licences_match_only_when_asked() {
        let mut m = LicenseMatch { allow: list(&["MIT"]), ..LicenseMatch::default() };
        for licenses in [&[][..], &["Apache License 2.0"][..], &["MIT", "Custom licence"][..]] {
            assert_eq!(m.judge(&list(licenses)), LicenseJudgement::Unknown, "{licenses:?}");
            assert!(!m.matches(&list(licenses)), "{licenses:?}");
        }
        // A known unacceptable entry decides, whatever the others.
        assert_eq!(m.judge(&list(&["not spdx at all", "GPL-3.0-only"])), LicenseJudgement::NotAcceptable);
        m.unknown = true;
        assert!(m.matches(&[]) && m.matches(&list(&["Apache License 2.0"])) && !m.matches(&list(&["MIT"])));
    }

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
