//! Debian version ordering (`dpkg --compare-versions`): `[epoch:]upstream[-revision]`, where `~` sorts
//! before everything (even the end of the string), letters before other characters, and digit runs
//! compare numerically.

use std::cmp::Ordering;

use super::semver::cmp_numeric;

fn order(c: Option<u8>) -> i32 {
    match c {
        Some(b'~') => -1,
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternating non-digit and digit runs.
pub(crate) fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // Non-digit prefix, character by character.
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied().filter(|c| !c.is_ascii_digit()));
            let bc = order(b.get(j).copied().filter(|c| !c.is_ascii_digit()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            if i < a.len() && !a[i].is_ascii_digit() {
                i += 1;
            }
            if j < b.len() && !b[j].is_ascii_digit() {
                j += 1;
            }
        }
        let si = i;
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        let sj = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let da = std::str::from_utf8(&a[si..i]).unwrap_or("");
        let db = std::str::from_utf8(&b[sj..j]).unwrap_or("");
        let o = cmp_numeric(da, db);
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

fn split(v: &str) -> (&str, &str, &str) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => (e, r),
        _ => ("0", v),
    };
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, r),
        None => (rest, ""),
    };
    (epoch, upstream, revision)
}

/// Compares two Debian versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    cmp_numeric(ea, eb).then_with(|| verrevcmp(ua, ub)).then_with(|| verrevcmp(ra, rb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_ordering() {
        assert_eq!(compare("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(compare("1:0.1", "2.0"), Ordering::Greater);
        assert_eq!(compare("1.2.3-1~deb7u1", "1.2.3-1"), Ordering::Less);
        assert_eq!(compare("1.0a", "1.0+"), Ordering::Less);
        assert_eq!(compare("", "~"), Ordering::Greater);
    }

    /// Cross-checks against the real `dpkg --compare-versions` on pairs drawn from tricky shapes.
    #[test]
    fn agrees_with_dpkg_including_ubuntu_versions() {
        if std::process::Command::new("dpkg").arg("--version").output().is_err() {
            eprintln!("dpkg not installed: cross-check skipped");
            return;
        }
        let versions = [
            "1.0",
            "1.0~rc1",
            "1.0~~",
            "1.0-1",
            "1:0.9",
            "0:1.0",
            "1.0+dfsg-2",
            "1.0a",
            "1.0.0",
            "1.00",
            "2.7.4+reloaded2-13",
            "2.7.4+reloaded2-13+deb9u1",
            "1.2.3-1~deb7u1",
            "10",
            "9",
            "1.0-1ubuntu1",
            "1.0-1build1",
            "0.0.44-nobin",
            // Ubuntu's shapes: security updates per release, backports, rebuilds, ESM.
            "1.2-3",
            "1.2-3ubuntu0.22.04.1",
            "1.2-3ubuntu0.20.04.1",
            "1.2-3ubuntu0.22.04.1~esm1",
            "1.2-3ubuntu1~22.04",
            "1.2-3ubuntu1",
            "1.2-3build1",
            "1.2-3ubuntu0.1~esm1",
            "1:1.2-3ubuntu0.24.04.2",
        ];
        for a in versions {
            for b in versions {
                let lt = std::process::Command::new("dpkg").args(["--compare-versions", a, "lt", b]).status();
                let eq = std::process::Command::new("dpkg").args(["--compare-versions", a, "eq", b]).status();
                let (Ok(lt), Ok(eq)) = (lt, eq) else { return };
                let want = if lt.success() {
                    Ordering::Less
                } else if eq.success() {
                    Ordering::Equal
                } else {
                    Ordering::Greater
                };
                assert_eq!(compare(a, b), want, "{a} vs {b}");
            }
        }
    }
}
