//! opam (OCaml) version ordering: Debian's `verrevcmp` over the whole string (opam has no epoch or
//! revision): `~` sorts before everything, letters before other characters, digit runs numerically.

use std::cmp::Ordering;

use super::debian::verrevcmp;

/// Compares two opam package versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    verrevcmp(a.trim(), b.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opam_ordering() {
        let order = ["1.0~beta", "1.0", "1.0+fix", "1.0.1", "1.1"];
        for w in order.windows(2) {
            assert_eq!(compare(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
        }
        assert_eq!(compare("v1.01", "v1.1"), Ordering::Equal);
    }
}
