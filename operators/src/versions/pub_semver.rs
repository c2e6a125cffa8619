//! Dart `pub` version ordering (`package:pub_semver`): SemVer 2.0 precedence, except that build
//! metadata counts: a version without build metadata sorts below the same version with it, and build
//! identifiers compare like pre-release identifiers.

use std::cmp::Ordering;

use super::semver;

/// The build metadata of `v` (after the first `+`), if any.
fn build(v: &str) -> Option<&str> {
    v.trim().split_once('+').map(|(_, build)| build)
}

/// Compares two pub versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    semver::compare(a, b).then_with(|| match (build(a), build(b)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (x, y) => semver::cmp_prerelease(x, y),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_metadata_counts() {
        let order = ["1.0.0-pre", "1.0.0-pre+build", "1.0.0", "1.0.0+1", "1.0.0+2", "1.0.0+a", "1.0.1"];
        for w in order.windows(2) {
            assert_eq!(compare(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
            assert_eq!(compare(w[1], w[0]), Ordering::Greater, "{} > {}", w[1], w[0]);
        }
        assert_eq!(compare("v1.2.3+b", "1.2.3+b"), Ordering::Equal);
    }
}
