//! NuGet version ordering: numeric parts (normally up to four; missing parts are 0), then a SemVer 2.0
//! pre-release compared case-insensitively; build metadata (`+...`) and a leading `v` are ignored.

use std::cmp::Ordering;

use super::semver::{cmp_numeric, cmp_prerelease};

/// The numeric parts (the leading run of digits and dots; empty parts are skipped) and the lower-cased
/// pre-release (the rest, without its leading `-`; `None` when empty). `+` metadata is dropped first.
fn split(v: &str) -> (Vec<&str>, Option<String>) {
    let v = v.trim();
    let v = v.strip_prefix(['v', 'V']).unwrap_or(v);
    let v = v.split_once('+').map_or(v, |(head, _)| head);
    let end = v.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(v.len());
    let (core, rest) = v.split_at(end);
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let pre = (!rest.is_empty()).then(|| rest.to_lowercase());
    (core.split('.').filter(|p| !p.is_empty()).collect(), pre)
}

/// Compares two NuGet versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ca, pa) = split(a);
    let (cb, pb) = split(b);
    for i in 0..ca.len().max(cb.len()).max(4) {
        let o = cmp_numeric(ca.get(i).copied().unwrap_or("0"), cb.get(i).copied().unwrap_or("0"));
        if o != Ordering::Equal {
            return o;
        }
    }
    cmp_prerelease(pa.as_deref(), pb.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nuget_ordering() {
        assert_eq!(compare("1.0", "1.0.0.0"), Ordering::Equal);
        assert_eq!(compare("1.0.0-BETA", "1.0.0-beta"), Ordering::Equal);
        assert_eq!(compare("1.0.0-beta", "1.0.0"), Ordering::Less);
        assert_eq!(compare("1.0.0.1", "1.0.0"), Ordering::Greater);
        assert_eq!(compare("1.0.0+meta", "1.0.0"), Ordering::Equal);
        assert_eq!(compare("1.0.0-", "1.0.0"), Ordering::Equal);
        assert_eq!(compare("1.0.0beta", "1.0.0-beta"), Ordering::Equal);
        assert_eq!(compare("1.0.0-beta.2", "1.0.0-beta.10"), Ordering::Less);
        assert_eq!(compare("1.0.0-alpha.beta", "1.0.0-alpha.1"), Ordering::Greater);
        assert_eq!(compare("v2.0", "2.0.0"), Ordering::Equal);
        for g in ["", ".", "-", "+", "é", "..1..", "x.y", "1-é"] {
            assert_eq!(compare(g, g), Ordering::Equal);
            assert_eq!(compare(g, "1"), compare("1", g).reverse());
        }
    }
}
