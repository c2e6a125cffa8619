//! R's `package_version` ordering (CRAN, Bioconductor): numbers separated by `.` or `-`, compared in
//! turn; when one list is a prefix of the other, the shorter sorts first (`1.0 < 1.0.0`). Components
//! that are not numbers (which R rejects) are skipped, as OSV does.

use std::cmp::Ordering;

use super::semver::cmp_numeric;

/// Compares the numeric components of `a` and `b` split at any of `separators`, skipping components
/// that are not all digits; a list that is a prefix of the other sorts first.
pub(crate) fn cmp_numeric_lists(a: &str, b: &str, separators: &[char]) -> Ordering {
    let numeric = |c: &&str| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit());
    let mut xs = a.trim().split(separators).filter(numeric);
    let mut ys = b.trim().split(separators).filter(numeric);
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = cmp_numeric(x, y);
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// Compares two R package versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    cmp_numeric_lists(a, b, &['.', '-'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_version_ordering() {
        let order = ["0.9", "0.75", "1.0", "1.0-0", "1.0-1", "1.0.2", "1.1"];
        for w in order.windows(2) {
            assert_eq!(compare(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
        }
        assert_eq!(compare("0.01.0", "0.1-0"), Ordering::Equal);
        for garbage in ["", ".", "-", "a.b", "\u{1F600}"] {
            let _ = compare(garbage, "1.0");
        }
    }
}
