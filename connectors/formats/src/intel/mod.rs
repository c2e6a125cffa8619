//! Vulnerability intelligence feeds: CISA's Known Exploited Vulnerabilities catalog ([`kev`]) and
//! FIRST's daily EPSS scores ([`epss`]). Each parser reads the whole document it is handed, keeps
//! every well-formed entry, and reports each malformed one with its place (JSON pointer, line)
//! instead of giving up on the file.

pub mod epss;
pub mod kev;

/// Whether `id` is a CVE id as the catalogs write it: `CVE-YYYY-NNNN…` (four or more digits).
pub fn is_cve_id(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("CVE-") else { return false };
    let Some((year, number)) = rest.split_once('-') else { return false };
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && (4..=19).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `date` is a calendar date `YYYY-MM-DD` (month 1–12, day 1–31).
pub fn is_date(date: &str) -> bool {
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = date.get(r)?;
        s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok()).flatten()
    };
    matches!((num(0..4), num(5..7), num(8..10)), (Some(_), Some(m), Some(d)) if (1..=12).contains(&m) && (1..=31).contains(&d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cve_ids() {
        assert!(is_cve_id("CVE-2021-4034"));
        assert!(is_cve_id("CVE-2021-1234567"));
        assert!(!is_cve_id("CVE-21-4034"));
        assert!(!is_cve_id("CVE-2021-403"));
        assert!(!is_cve_id("GHSA-xxxx-yyyy-zzzz"));
        assert!(!is_cve_id("CVE-2021-40a4"));
    }

    #[test]
    fn dates() {
        assert!(is_date("2025-08-25"));
        assert!(!is_date("2025-13-01"));
        assert!(!is_date("2025-8-25"));
        assert!(!is_date("2025-08-25T00:00:00Z"));
    }
}
