//! OSV `SEMVER` ordering, as used for crates.io, npm, Go and other SemVer ecosystems: lenient about a
//! `v` prefix, missing minor/patch components and arbitrarily large numbers; SemVer 2.0 precedence for
//! pre-releases; build metadata (and anything after the third numeric component) ignored.

use std::cmp::Ordering;

/// Compares two version strings of digits without leading zeros mattering, of any length.
pub(crate) fn cmp_numeric(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

struct Parsed<'a> {
    core: [&'a str; 3],
    pre: Option<&'a str>,
}

fn parse(v: &str) -> Parsed<'_> {
    let v = v.trim();
    let v = v.strip_prefix('v').or_else(|| v.strip_prefix('V')).unwrap_or(v);
    let v = v.split_once('+').map_or(v, |(head, _)| head);
    let (core, pre) = match v.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (v, None),
    };
    let mut parts = ["0"; 3];
    for (slot, part) in parts.iter_mut().zip(core.split('.')) {
        let digits_end = part.find(|c: char| !c.is_ascii_digit()).unwrap_or(part.len());
        *slot = if digits_end == 0 { "0" } else { &part[..digits_end] };
    }
    Parsed { core: parts, pre }
}

fn cmp_identifier(a: &str, b: &str) -> Ordering {
    let a_num = !a.is_empty() && a.bytes().all(|c| c.is_ascii_digit());
    let b_num = !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit());
    match (a_num, b_num) {
        (true, true) => cmp_numeric(a, b),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

/// Compares two versions with OSV `SEMVER` semantics.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (parse(a), parse(b));
    for (x, y) in a.core.iter().zip(b.core.iter()) {
        let o = cmp_numeric(x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    cmp_prerelease(a.pre, b.pre)
}

/// SemVer 2.0 pre-release precedence: no pre-release above any; dot-separated identifiers compared
/// pairwise (numbers numerically and below words, words in ASCII order); a longer list wins a tie.
pub(crate) fn cmp_prerelease(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => {
            let mut xs = x.split('.');
            let mut ys = y.split('.');
            loop {
                match (xs.next(), ys.next()) {
                    (None, None) => return Ordering::Equal,
                    (None, Some(_)) => return Ordering::Less,
                    (Some(_), None) => return Ordering::Greater,
                    (Some(p), Some(q)) => {
                        let o = cmp_identifier(p, q);
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_precedence() {
        let order = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "v1.1",
            "2",
        ];
        for w in order.windows(2) {
            assert_eq!(compare(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
            assert_eq!(compare(w[1], w[0]), Ordering::Greater);
        }
        assert_eq!(compare("1.2.3+build", "v1.2.3+other"), Ordering::Equal);
        assert_eq!(compare("", "garbage"), Ordering::Equal);
    }

    #[test]
    fn go_module_versions() {
        // `+incompatible` is build metadata; pseudo-versions are pre-releases ordered by timestamp.
        assert_eq!(compare("v2.0.0+incompatible", "v2.0.0"), Ordering::Equal);
        let order = [
            "v0.0.0-20191109021931-daa7c04131f5",
            "v0.0.0-20200101000000-abcdefabcdef",
            "v0.1.0",
            "v1.2.3",
            "v1.2.4-0.20191109021931-daa7c04131f5",
            "v1.2.4",
        ];
        for w in order.windows(2) {
            assert_eq!(compare(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
        }
    }
}
