//! Alpine (apk) version ordering with OSV's semantics for the apk version format
//! `number{.number}...{letter}{_suffix{number}}...{~hash}{-r#}`: numeric components (after the first,
//! a component with a leading zero compares as a string), an optional letter, suffixes ordered
//! `alpha < beta < pre < rc < (none) < cvs < svn < git < hg < p`, the hash ignored, then the `-r`
//! build number. A version with anything else left over is invalid: it sorts below a valid version
//! that is otherwise equal, and two invalid versions compare as plain strings.

use std::cmp::Ordering;

use super::semver::cmp_numeric;

const SUFFIXES: [&str; 9] = ["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"];

fn suffix_weight(name: &str) -> u8 {
    match name {
        "alpha" => 0,
        "beta" => 1,
        "pre" => 2,
        "rc" => 3,
        "cvs" => 5,
        "svn" => 6,
        "git" => 7,
        "hg" => 8,
        _ => 9, // p
    }
}

/// Weight of a missing suffix, as OSV compares them.
const NO_SUFFIX: (u8, &str) = (5, "0");

#[derive(Debug)]
struct Parsed<'a> {
    original: &'a str,
    invalid: bool,
    components: Vec<&'a str>,
    letter: Option<u8>,
    suffixes: Vec<(u8, &'a str)>,
    build: &'a str,
    remainder: &'a str,
}

fn digits_len(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_digit).count()
}

fn parse(original: &str) -> Parsed<'_> {
    let mut rest = original;
    // Number components: `(\d+\.?)*` from the start.
    let mut components = Vec::new();
    loop {
        let n = digits_len(rest);
        if n == 0 {
            break;
        }
        components.push(&rest[..n]);
        rest = &rest[n..];
        match rest.strip_prefix('.') {
            Some(r) => rest = r,
            None => break,
        }
    }
    // A trailing `.` after the last number leaves an empty component.
    if !components.is_empty() && original[..original.len() - rest.len()].ends_with('.') {
        components.push("");
    }
    let letter = rest.bytes().next().filter(u8::is_ascii_lowercase);
    if letter.is_some() {
        rest = &rest[1..];
    }
    // Suffixes: every `_name[digits]` occurrence counts; those at the front are consumed.
    let mut suffixes = Vec::new();
    let mut scan = rest;
    while let Some(i) = scan.find('_') {
        let after = &scan[i + 1..];
        let Some(name) = SUFFIXES.iter().find(|s| after.starts_with(**s)) else {
            scan = after;
            continue;
        };
        let num_start = &after[name.len()..];
        let n = digits_len(num_start);
        let number = if n == 0 { "0" } else { &num_start[..n] };
        suffixes.push((suffix_weight(name), number));
        let whole = 1 + name.len() + n;
        if i == 0 && scan.len() == rest.len() {
            rest = &rest[whole..];
            scan = rest;
        } else {
            scan = &scan[i + whole..];
        }
    }
    // Commit hash: `~[0-9a-f]+`.
    if let Some(h) = rest.strip_prefix('~') {
        let n = h.bytes().take_while(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)).count();
        if n > 0 {
            rest = &h[n..];
        }
    }
    // Build number: `-r\d*`, else (if anything is left) the version is invalid.
    let mut build = "0";
    let mut invalid = false;
    if !rest.is_empty() {
        match rest.strip_prefix("-r") {
            Some(r) => {
                let n = digits_len(r);
                if n > 0 {
                    build = &r[..n];
                }
                rest = &r[n..];
            }
            None => invalid = true,
        }
    }
    Parsed { original, invalid, components, letter, suffixes, build, remainder: rest }
}

fn cmp_component(a: (usize, &str), b: (usize, &str)) -> Ordering {
    let (ai, a) = a;
    let (bi, b) = b;
    if ai != 0 && bi != 0 && (a.starts_with('0') || b.starts_with('0') || a.is_empty() || b.is_empty()) {
        return a.cmp(b);
    }
    cmp_numeric(a, b)
}

/// Compares two Alpine package versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (parse(a.trim()), parse(b.trim()));
    if a.invalid && b.invalid {
        return a.original.cmp(b.original);
    }
    let n = a.components.len().max(b.components.len());
    for i in 0..n {
        let x = a.components.get(i).map_or((0, "0"), |c| (i, *c));
        let y = b.components.get(i).map_or((0, "0"), |c| (i, *c));
        let o = cmp_component(x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    let o = match (a.letter, b.letter) {
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (x, y) => x.cmp(&y),
    };
    if o != Ordering::Equal {
        return o;
    }
    let n = a.suffixes.len().max(b.suffixes.len());
    for i in 0..n {
        let (xw, xn) = a.suffixes.get(i).copied().unwrap_or(NO_SUFFIX);
        let (yw, yn) = b.suffixes.get(i).copied().unwrap_or(NO_SUFFIX);
        let o = xw.cmp(&yw).then_with(|| cmp_numeric(xn, yn));
        if o != Ordering::Equal {
            return o;
        }
    }
    let o = cmp_numeric(a.build, b.build);
    if o != Ordering::Equal {
        return o;
    }
    match (a.remainder.is_empty(), b.remainder.is_empty()) {
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apk_ordering() {
        assert_eq!(compare("1.2.3_rc1", "1.2.3"), Ordering::Less);
        assert_eq!(compare("1.2.3_p1", "1.2.3"), Ordering::Greater);
        assert_eq!(compare("1.2.3-r1", "1.2.3-r0"), Ordering::Greater);
        assert_eq!(compare("1.2.3a", "1.2.3"), Ordering::Greater);
        assert_eq!(compare("1.2.3~abc-r2", "1.2.3-r1"), Ordering::Greater);
        for garbage in ["", "_", "-", ".", "~", "1..", "_p_p_p", "1-r", "\u{1F600}"] {
            let _ = compare(garbage, "1.0");
        }
    }
}
