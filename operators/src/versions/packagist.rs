//! Packagist (Composer) version ordering as OSV applies it: PHP's `version_compare` on the version
//! with a leading `v`/`V` removed. `-`, `_`, `+` become `.`, digit/letter boundaries get a `.`, and the
//! dot-separated parts compare numerically, or as special forms by prefix —
//! `dev` (and anything unknown) `< a(lpha) < b(eta) < RC/rc < # (a number) < p(l)`.

use std::cmp::Ordering;

use super::semver::cmp_numeric;

fn canonical(v: &str) -> Vec<String> {
    let v = v.trim();
    let v = v.strip_prefix('v').unwrap_or(v);
    let v = v.strip_prefix('V').unwrap_or(v);
    let replaced: Vec<char> = v.chars().map(|c| if matches!(c, '-' | '_' | '+') { '.' } else { c }).collect();
    let other = |c: char| !c.is_ascii_digit() && c != '.';
    let mut pass1 = Vec::with_capacity(replaced.len() + 4);
    for (i, &c) in replaced.iter().enumerate() {
        if i > 0 && c.is_ascii_digit() && other(replaced[i - 1]) {
            pass1.push('.');
        }
        pass1.push(c);
    }
    let mut pass2 = String::with_capacity(pass1.len() + 4);
    for (i, &c) in pass1.iter().enumerate() {
        if i > 0 && other(c) && pass1[i - 1].is_ascii_digit() {
            pass2.push('.');
        }
        pass2.push(c);
    }
    pass2.split('.').map(str::to_string).collect()
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

fn weight(s: &str) -> u8 {
    if s.starts_with("RC") {
        return 3;
    }
    ["dev", "a", "b", "rc", "#", "p"].iter().position(|p| s.starts_with(p)).map_or(0, |i| i as u8)
}

fn compare_parts(a: &[String], b: &[String]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (is_number(x), is_number(y)) {
            (true, true) => cmp_numeric(x, y),
            (false, false) => weight(x).cmp(&weight(y)),
            (true, false) => weight("#").cmp(&weight(y)),
            (false, true) => weight(x).cmp(&weight("#")),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    let hash = ["#".to_string()];
    match a.len().cmp(&b.len()) {
        Ordering::Greater if a[b.len()].parse::<i64>().is_ok() => Ordering::Greater,
        Ordering::Greater => compare_parts(&a[b.len()..], &hash),
        Ordering::Less if b[a.len()].parse::<i64>().is_ok() => Ordering::Less,
        Ordering::Less => compare_parts(&hash, &b[a.len()..]),
        Ordering::Equal => Ordering::Equal,
    }
}

/// Compares two Packagist versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    compare_parts(&canonical(a), &canonical(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn php_version_compare_forms() {
        assert_eq!(compare("1.0-dev", "1.0a1"), Ordering::Less);
        assert_eq!(compare("1.0rc1", "1.0"), Ordering::Less);
        assert_eq!(compare("1.0", "1.0pl1"), Ordering::Less);
        assert_eq!(compare("v1.0.0", "1.0.0"), Ordering::Equal);
        for g in ["", ".", "v", "-_+", "é1"] {
            let _ = compare(g, "1");
        }
    }
}
