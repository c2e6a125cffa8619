//! NuGet version ordering: up to four numeric parts (missing parts are 0), then a SemVer 2.0
//! pre-release compared case-insensitively; build metadata (`+...`) is ignored.

use std::cmp::Ordering;

use super::semver::{cmp_numeric, cmp_prerelease};

fn split(v: &str) -> (Vec<&str>, Option<String>) {
    let v = v.trim();
    let v = v.split_once('+').map_or(v, |(head, _)| head);
    let (core, pre) = match v.split_once('-') {
        Some((c, p)) => (c, Some(p.to_lowercase())),
        None => (v, None),
    };
    (core.split('.').collect(), pre)
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
    }
}
