//! Haskell's `Data.Version` ordering (Hackage, GHC): the numeric branch (`1.2.3`) compared as a list,
//! a prefix sorting first (`0.1.0 < 0.1.0.0`). Tags (after a `-`, deprecated) do not count.

use std::cmp::Ordering;

use super::cran::cmp_numeric_lists;

fn branch(v: &str) -> &str {
    v.split_once('-').map_or(v, |(branch, _tags)| branch)
}

/// Compares two Haskell package versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    cmp_numeric_lists(branch(a), branch(b), &['.'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_version_ordering() {
        let order = ["0.1", "0.1.0", "0.1.0.0", "0.1.1", "0.10", "1"];
        for w in order.windows(2) {
            assert_eq!(compare(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
        }
        assert_eq!(compare("1.0-tag", "1.0"), Ordering::Equal);
    }
}
