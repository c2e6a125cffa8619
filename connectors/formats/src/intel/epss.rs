//! FIRST's daily EPSS scores (<https://www.first.org/epss/data_stats>), as the daily
//! `epss_scores-YYYY-MM-DD.csv` publishes them: a comment line
//! `#model_version:v2025.03.14,score_date:2025-08-25T12:55:00Z`, a header `cve,epss,percentile`,
//! then one line per CVE. Files of the first model (no comment line) are read too; their score date
//! must then come from the caller.
//!
//! A line that is not `CVE-id,score,percentile` (with both numbers in 0–1) is reported with its line
//! number and left out; the rest of the file is read. A CVE scored twice keeps its first line.

use std::collections::HashSet;

use super::is_cve_id;
use crate::error::{FormatError, Location};

/// One CVE's score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpssRow<'a> {
    /// `CVE-YYYY-NNNN`.
    pub cve: &'a str,
    /// Probability of exploitation activity in the next 30 days, 0–1.
    pub epss: f64,
    /// Share of all scored CVEs with the same or a lower score, 0–1.
    pub percentile: f64,
}

/// A scores file as read.
#[derive(Debug, Clone, PartialEq)]
pub struct EpssFile<'a> {
    /// `model_version` of the comment line, if there is one.
    pub model_version: Option<String>,
    /// `score_date` of the comment line (RFC 3339 or `YYYY-MM-DD`), if there is one.
    pub score_date: Option<String>,
    /// The well-formed rows, in file order (each CVE once).
    pub rows: Vec<EpssRow<'a>>,
    /// The lines left out, each with its line number.
    pub rejected: Vec<FormatError>,
}

/// Reads a scores file (`path` names it in errors). Fails only when the file has no
/// `cve,epss,percentile` header.
pub fn parse<'a>(text: &'a str, path: &str) -> Result<EpssFile<'a>, FormatError> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (u32::try_from(i + 1).unwrap_or(u32::MAX), l));
    let (mut model_version, mut score_date) = (None, None);
    let mut header = None;
    for (n, line) in lines.by_ref() {
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            for part in comment.split(',') {
                match part.split_once(':') {
                    Some(("model_version", v)) => model_version = Some(v.trim().to_string()),
                    Some(("score_date", v)) => score_date = Some(v.trim().to_string()),
                    _ => {}
                }
            }
            continue;
        }
        header = Some((n, line));
        break;
    }
    let Some((n, header)) = header else {
        return Err(FormatError::new(path, Location::Document, "not an EPSS file: no `cve,epss,percentile` header"));
    };
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    if columns != ["cve", "epss", "percentile"] {
        return Err(FormatError::new(
            path,
            Location::Line(n),
            format!("not an EPSS file: the header is `{header}`, expected `cve,epss,percentile`"),
        ));
    }
    let mut rows = Vec::with_capacity(text.len() / 32);
    let mut rejected = Vec::new();
    let mut seen = HashSet::with_capacity(text.len() / 32);
    for (n, line) in lines {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        match row(line) {
            Ok(r) if seen.insert(r.cve) => rows.push(r),
            Ok(r) => rejected.push(FormatError::new(
                path,
                Location::Line(n),
                format!("{} is scored twice; the first line is kept", r.cve),
            )),
            Err(reason) => rejected.push(FormatError::new(path, Location::Line(n), reason)),
        }
    }
    Ok(EpssFile { model_version, score_date, rows, rejected })
}

/// One data line, or why it is left out.
fn row(line: &str) -> Result<EpssRow<'_>, String> {
    let mut fields = line.split(',');
    let (Some(cve), Some(epss), Some(percentile), None) = (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(format!("expected `cve,epss,percentile`, got `{line}`"));
    };
    let cve = cve.trim();
    if !is_cve_id(cve) {
        return Err(format!("`{cve}` is not a CVE id (CVE-YYYY-NNNN)"));
    }
    let number = |name: &str, v: &str| -> Result<f64, String> {
        match v.trim().parse::<f64>() {
            Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
            _ => Err(format!("{name} of {cve} is `{}`, expected a number from 0 to 1", v.trim())),
        }
    };
    Ok(EpssRow { cve, epss: number("epss", epss)?, percentile: number("percentile", percentile)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_comment_header_and_rows() {
        let text = "#model_version:v2025.03.14,score_date:2025-08-25T12:55:00Z\ncve,epss,percentile\n\
                    CVE-2021-4034,0.85,0.99\nCVE-2021-44228,0.94358,0.99957\n";
        let f = parse(text, "e.csv").expect("file");
        assert_eq!(f.model_version.as_deref(), Some("v2025.03.14"));
        assert_eq!(f.score_date.as_deref(), Some("2025-08-25T12:55:00Z"));
        assert_eq!(f.rows.len(), 2);
        assert_eq!(f.rows[1], EpssRow { cve: "CVE-2021-44228", epss: 0.94358, percentile: 0.99957 });
        assert!(f.rejected.is_empty());
    }

    #[test]
    fn a_bad_line_is_reported_with_its_number_and_the_rest_read() {
        let text = "cve,epss,percentile\nCVE-2021-4034,0.85,0.99\nCVE-2021-1,0.1,0.2\nCVE-2022-0001,1.5,0.3\n\
                    CVE-2022-0002,x\nCVE-2022-0003,NaN,0.1\nCVE-2021-4034,0.1,0.1\nCVE-2023-0001,0.01,0.5";
        let f = parse(text, "e.csv").expect("file");
        assert_eq!(f.rows.iter().map(|r| r.cve).collect::<Vec<_>>(), ["CVE-2021-4034", "CVE-2023-0001"]);
        assert_eq!(f.score_date, None);
        let errors: Vec<String> = f.rejected.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 5, "{errors:?}");
        assert!(errors[0].starts_with("e.csv:3: `CVE-2021-1` is not a CVE id"), "{errors:?}");
        assert!(errors[1].starts_with("e.csv:4: epss of CVE-2022-0001 is `1.5`"), "{errors:?}");
        assert!(errors[2].starts_with("e.csv:5: expected `cve,epss,percentile`"), "{errors:?}");
        assert!(errors[3].starts_with("e.csv:6: epss of CVE-2022-0003 is `NaN`"), "{errors:?}");
        assert!(errors[4].starts_with("e.csv:7: CVE-2021-4034 is scored twice"), "{errors:?}");
    }

    #[test]
    fn a_file_without_the_header_is_an_error() {
        let e = parse("#model_version:v1\nfoo,bar\n", "e.csv").expect_err("header");
        assert_eq!(e.location, Location::Line(2));
        assert!(parse("", "e.csv").is_err());
    }
}
