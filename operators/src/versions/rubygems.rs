//! RubyGems version ordering (`Gem::Version`): `-` reads as `.pre.`; the version is scanned into ASCII
//! number and letter runs (anything else separates them); a letter run makes it a pre-release;
//! trailing zeros of the numeric part and of the pre-release part are dropped; then segments compare
//! pairwise (missing ones are 0), a letter run sorting before a number and letter runs comparing as
//! strings.

use std::cmp::Ordering;

use super::semver::cmp_numeric;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Num(String),
    Str(String),
}

fn segments(v: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut digits = false;
    let flush = |cur: &mut String, digits: bool, out: &mut Vec<Segment>| {
        if !cur.is_empty() {
            let s = std::mem::take(cur);
            out.push(if digits { Segment::Num(s.trim_start_matches('0').to_string()) } else { Segment::Str(s) });
        }
    };
    // `Gem::Version` reads `-` as `.pre.`: `1.0-1` is a pre-release of `1.0`.
    for c in v.trim().replace('-', ".pre.").chars() {
        if c.is_ascii_digit() {
            if !digits {
                flush(&mut cur, digits, &mut out);
            }
            digits = true;
            cur.push(c);
        } else if c.is_ascii_alphabetic() {
            if digits {
                flush(&mut cur, digits, &mut out);
            }
            digits = false;
            cur.push(c);
        } else {
            flush(&mut cur, digits, &mut out);
        }
    }
    flush(&mut cur, digits, &mut out);
    // Canonical segments: drop trailing zeros of the numeric part and of the rest.
    let split = out.iter().position(|s| matches!(s, Segment::Str(_))).unwrap_or(out.len());
    let zero = |s: &Segment| matches!(s, Segment::Num(n) if n.is_empty());
    let mut numeric: Vec<Segment> = out[..split].to_vec();
    while numeric.last().is_some_and(zero) {
        numeric.pop();
    }
    let mut rest: Vec<Segment> = out[split..].to_vec();
    while rest.last().is_some_and(zero) {
        rest.pop();
    }
    numeric.extend(rest);
    numeric
}

/// Compares two RubyGems versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (segments(a), segments(b));
    let zero = Segment::Num(String::new());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).unwrap_or(&zero);
        let y = b.get(i).unwrap_or(&zero);
        let o = match (x, y) {
            (Segment::Num(p), Segment::Num(q)) => cmp_numeric(p, q),
            (Segment::Str(_), Segment::Num(_)) => Ordering::Less,
            (Segment::Num(_), Segment::Str(_)) => Ordering::Greater,
            (Segment::Str(p), Segment::Str(q)) => p.cmp(q),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gem_version_ordering() {
        assert_eq!(compare("1.0.a2", "1.0.a.2"), Ordering::Equal);
        assert_eq!(compare("1", "1beta"), Ordering::Greater);
        assert_eq!(compare("3.10", "3.2"), Ordering::Greater);
        assert_eq!(compare("1.0.0", "1"), Ordering::Equal);
        assert_eq!(compare("1.0-beta", "1.0.pre.beta"), Ordering::Equal);
        assert_eq!(compare("1.0-rc1", "1.0.beta"), Ordering::Greater);
        assert_eq!(compare("1.0-beta", "1.0.rc"), Ordering::Less);
        assert_eq!(compare("1.0-1", "1.0"), Ordering::Less);
        assert_eq!(compare("1.0.0.a.0", "1.a"), Ordering::Equal);
        assert_eq!(compare("01.2", "1.2"), Ordering::Equal);
        for g in ["", ".", "-", "é", "..1..", "a", "1-"] {
            assert_eq!(compare(g, g), Ordering::Equal);
            assert_eq!(compare(g, "1"), compare("1", g).reverse());
        }
    }
}
