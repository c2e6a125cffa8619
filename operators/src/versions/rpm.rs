//! RPM version ordering, as `rpm` 4.18 does it (`rpmverCmp` over `rpmverParse`, each part by
//! `rpmvercmp`): `[epoch:]version[-release]`, where the epoch is the leading digits before a `:` (an
//! empty one is `0`, a missing one compares as `0`) and the release follows the last `-`. A version
//! without a release sorts below the same version with one. Within a part, runs of ASCII letters and
//! of digits are compared in turn (digits numerically, and a digit run above a letter run); anything
//! else separates runs; `~` sorts before anything, even the end; `^` sorts after the end but before
//! any other run.

use std::cmp::Ordering;

use super::semver::cmp_numeric;

/// An EVR split as rpm splits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Evr<'a> {
    epoch: Option<&'a str>,
    version: &'a str,
    release: Option<&'a str>,
}

fn parse(evr: &str) -> Evr<'_> {
    let digits = evr.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &evr[digits..];
    let release_dash = rest.rfind('-').map(|k| digits + k);
    let (epoch, version_start) = if rest.starts_with(':') {
        (Some(if digits == 0 { "0" } else { &evr[..digits] }), digits + 1)
    } else {
        (None, 0)
    };
    let version_end = release_dash.unwrap_or(evr.len());
    Evr {
        epoch,
        version: evr.get(version_start..version_end).unwrap_or(""),
        release: release_dash.and_then(|k| evr.get(k + 1..)),
    }
}

/// Whether rpm treats `c` as part of a version (not a separator).
fn significant(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'~' || c == b'^'
}

/// The end of the run starting at `start` of bytes satisfying `class`.
fn run_end(s: &[u8], start: usize, class: fn(&u8) -> bool) -> usize {
    start + s.get(start..).map_or(0, |r| r.iter().take_while(|c| class(c)).count())
}

/// rpm's `rpmvercmp`: compares one part (epoch, version or release) of two EVRs.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    loop {
        while a.get(i).is_some_and(|&c| !significant(c)) {
            i += 1;
        }
        while b.get(j).is_some_and(|&c| !significant(c)) {
            j += 1;
        }
        let (x, y) = (a.get(i).copied(), b.get(j).copied());
        if x == Some(b'~') || y == Some(b'~') {
            if x != Some(b'~') {
                return Ordering::Greater;
            }
            if y != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if x == Some(b'^') || y == Some(b'^') {
            match (x, y) {
                (None, _) => return Ordering::Less,
                (_, None) => return Ordering::Greater,
                (Some(p), _) if p != b'^' => return Ordering::Greater,
                (_, Some(q)) if q != b'^' => return Ordering::Less,
                _ => {}
            }
            i += 1;
            j += 1;
            continue;
        }
        let Some(x) = x.filter(|_| y.is_some()) else { break };
        let numeric = x.is_ascii_digit();
        let class: fn(&u8) -> bool = if numeric { u8::is_ascii_digit } else { u8::is_ascii_alphabetic };
        let (ie, je) = (run_end(a, i, class), run_end(b, j, class));
        if je == j {
            // The other run is of the other kind: a number is newer than letters.
            return if numeric { Ordering::Greater } else { Ordering::Less };
        }
        let (ra, rb) = (&a[i..ie], &b[j..je]);
        let o = if numeric {
            // Digit runs are ASCII, so these are valid UTF-8.
            cmp_numeric(std::str::from_utf8(ra).unwrap_or(""), std::str::from_utf8(rb).unwrap_or(""))
        } else {
            ra.cmp(rb)
        };
        if o != Ordering::Equal {
            return o;
        }
        (i, j) = (ie, je);
    }
    match (i < a.len(), j < b.len()) {
        (false, false) => Ordering::Equal,
        (false, true) => Ordering::Less,
        (true, _) => Ordering::Greater,
    }
}

/// rpm's `compare_values`: a missing part sorts below a present one.
fn cmp_part(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (Some(x), Some(y)) => rpmvercmp(x, y),
    }
}

/// Compares two RPM versions (`[epoch:]version[-release]`) as `rpm.vercmp` does.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (parse(a), parse(b));
    rpmvercmp(a.epoch.unwrap_or("0"), b.epoch.unwrap_or("0"))
        .then_with(|| rpmvercmp(a.version, b.version))
        .then_with(|| cmp_part(a.release, b.release))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_rpm() {
        let evr = |e, v, r| Evr { epoch: e, version: v, release: r };
        assert_eq!(parse("1:2.3-4.el9"), evr(Some("1"), "2.3", Some("4.el9")));
        assert_eq!(parse(":2.3"), evr(Some("0"), "2.3", None));
        assert_eq!(parse("1-2-3"), evr(None, "1-2", Some("3")));
        assert_eq!(parse("a:1-2"), evr(None, "a:1", Some("2")));
        assert_eq!(parse("1-"), evr(None, "1", Some("")));
        assert_eq!(parse(""), evr(None, "", None));
    }

    #[test]
    fn rpm_ordering() {
        let order = ["1.0~rc1", "1.0", "1.0^git1", "1.0.1", "1.0.1-1.el9", "1.0.1-2.el9", "1:0.1"];
        for w in order.windows(2) {
            assert_eq!(compare(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
            assert_eq!(compare(w[1], w[0]), Ordering::Greater, "{} > {}", w[1], w[0]);
        }
        assert_eq!(compare("1.0010", "1.10"), Ordering::Equal);
        assert_eq!(compare("2_0", "2.0"), Ordering::Equal);
        for garbage in ["", "-", ":", "~", "^", "-:-", "\u{1F600}", "1:", "99999999999999999999999999"] {
            let _ = compare(garbage, "1.0-1");
            let _ = compare("1.0-1", garbage);
        }
    }
}
