//! Severity: CVSS base scores from vectors (v3.0, v3.1, v4.0 through RustSec's `cvss` crate) or bare
//! numbers, and the qualitative bands a policy sorts them into.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::model::SeverityPolicy;

/// A qualitative severity band (CVSS's rating scale; the thresholds come from the policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// Score below the `low` threshold (CVSS 0.0).
    None,
    /// Low.
    Low,
    /// Medium (OSV and GitHub also say `moderate`).
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Band {
    /// Every band, lowest first.
    pub const ALL: [Band; 5] = [Band::None, Band::Low, Band::Medium, Band::High, Band::Critical];

    /// The band's name: `none`, `low`, `medium`, `high`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Band::None => "none",
            Band::Low => "low",
            Band::Medium => "medium",
            Band::High => "high",
            Band::Critical => "critical",
        }
    }

    /// Index in [`Band::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// A textual rating (`critical`, `HIGH`, `moderate`, `medium`, `low`, `none`), case-insensitive.
    pub fn from_label(label: &str) -> Option<Band> {
        match label.trim().to_ascii_lowercase().as_str() {
            "critical" => Some(Band::Critical),
            "high" | "important" => Some(Band::High),
            "medium" | "moderate" => Some(Band::Medium),
            "low" => Some(Band::Low),
            "none" | "negligible" | "informational" => Some(Band::None),
            _ => None,
        }
    }
}

impl fmt::Display for Band {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a severity text has no CVSS score.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CvssError {
    /// A CVSS vector the `cvss` crate rejects (or one missing base metrics).
    #[error("`{vector}` is not a valid CVSS vector: {reason}")]
    InvalidVector {
        /// The text.
        vector: String,
        /// Why.
        reason: String,
    },
    /// A number outside 0.0–10.0.
    #[error("CVSS score {0} is outside 0.0–10.0")]
    OutOfRange(String),
    /// Neither a vector nor a number.
    #[error("`{0}` is neither a CVSS vector (CVSS:3.1/..., CVSS:4.0/...) nor a score")]
    NotCvss(String),
}

/// The base metrics every CVSS v3 vector must carry.
const V3_BASE: [&str; 8] = ["AV", "AC", "PR", "UI", "S", "C", "I", "A"];

/// The CVSS score of `text`: a v3.0/v3.1 vector (its base score; temporal and environmental metrics
/// are left out), a v4.0 vector (the score of the metrics it carries), or a bare number 0.0–10.0.
pub fn cvss_score(text: &str) -> Result<f64, CvssError> {
    let t = text.trim();
    if let Ok(n) = t.parse::<f64>() {
        return if (0.0..=10.0).contains(&n) { Ok(n) } else { Err(CvssError::OutOfRange(t.to_string())) };
    }
    let invalid = |reason: String| CvssError::InvalidVector { vector: t.to_string(), reason };
    if t.starts_with("CVSS:3.") {
        let mut parts = t.split('/');
        let prefix = parts.next().unwrap_or_default();
        let base: Vec<&str> = parts.filter(|p| p.split(':').next().is_some_and(|m| V3_BASE.contains(&m))).collect();
        let missing: Vec<&str> =
            V3_BASE.iter().copied().filter(|m| !base.iter().any(|p| p.split(':').next() == Some(*m))).collect();
        if !missing.is_empty() {
            return Err(invalid(format!("missing base metric(s) {}", missing.join(", "))));
        }
        let vector = format!("{prefix}/{}", base.join("/"));
        return vector.parse::<cvss::Cvss>().map(|c| c.score()).map_err(|e| invalid(e.to_string()));
    }
    if t.starts_with("CVSS:") {
        return t.parse::<cvss::Cvss>().map(|c| c.score()).map_err(|e| invalid(e.to_string()));
    }
    Err(CvssError::NotCvss(t.to_string()))
}

impl SeverityPolicy {
    /// The band of a CVSS score under this policy's thresholds.
    pub fn band_of_score(&self, score: f64) -> Band {
        if score >= self.critical {
            Band::Critical
        } else if score >= self.high {
            Band::High
        } else if score >= self.medium {
            Band::Medium
        } else if score >= self.low {
            Band::Low
        } else {
            Band::None
        }
    }

    /// The band of a finding's or advisory's severity text — a CVSS vector, a score or a rating
    /// label — or `unknown_as` when there is none or it cannot be read.
    pub fn band_of(&self, severity: Option<&str>) -> Band {
        let Some(text) = severity.map(str::trim).filter(|s| !s.is_empty()) else {
            return self.unknown_as;
        };
        if let Some(b) = Band::from_label(text) {
            return b;
        }
        match cvss_score(text) {
            Ok(score) => self.band_of_score(score),
            Err(_) => self.unknown_as,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_vectors_score_like_first_org_calculator() {
        // Reference values from FIRST's CVSS v3.1 calculator.
        assert_eq!(cvss_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), Ok(9.8));
        assert_eq!(cvss_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"), Ok(6.1));
        assert_eq!(cvss_score("CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:L"), Ok(1.8));
        // Temporal metrics are left out: the base score.
        assert_eq!(cvss_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N/E:P/RL:W/RC:C"), Ok(6.1));
    }

    #[test]
    fn v4_vectors_score() {
        // FIRST's CVSS v4.0 calculator: 9.3 (critical) and 6.9 (medium).
        assert_eq!(cvss_score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"), Ok(9.3));
        assert_eq!(cvss_score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N"), Ok(6.9));
    }

    #[test]
    fn numbers_and_bad_input() {
        assert_eq!(cvss_score(" 7.5 "), Ok(7.5));
        assert!(matches!(cvss_score("11"), Err(CvssError::OutOfRange(_))));
        assert!(matches!(cvss_score("CVSS:3.1/AV:N/AC:L"), Err(CvssError::InvalidVector { .. })));
        assert!(matches!(
            cvss_score("CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            Err(CvssError::InvalidVector { .. })
        ));
        assert!(matches!(cvss_score("CVSS:4.0/AV:N"), Err(CvssError::InvalidVector { .. })));
        assert!(matches!(cvss_score("CVSS:2.0/AV:N"), Err(CvssError::InvalidVector { .. })));
        assert!(matches!(cvss_score("AV:N/AC:L/Au:N/C:P/I:P/A:P"), Err(CvssError::NotCvss(_))));
        assert!(matches!(cvss_score(""), Err(CvssError::NotCvss(_))));
    }

    #[test]
    fn bands_follow_the_policy_thresholds() {
        let p = SeverityPolicy::default();
        assert_eq!(p.band_of_score(0.0), Band::None);
        assert_eq!(p.band_of_score(0.1), Band::Low);
        assert_eq!(p.band_of_score(3.9), Band::Low);
        assert_eq!(p.band_of_score(4.0), Band::Medium);
        assert_eq!(p.band_of_score(6.9), Band::Medium);
        assert_eq!(p.band_of_score(7.0), Band::High);
        assert_eq!(p.band_of_score(9.0), Band::Critical);
        assert_eq!(p.band_of(Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")), Band::Critical);
        assert_eq!(p.band_of(Some("MODERATE")), Band::Medium);
        assert_eq!(p.band_of(Some("5.0")), Band::Medium);
        assert_eq!(p.band_of(None), p.unknown_as);
        assert_eq!(p.band_of(Some("AV:N/AC:L/Au:N/C:P/I:P/A:P")), p.unknown_as);
        let strict = SeverityPolicy { high: 6.0, unknown_as: Band::Critical, ..SeverityPolicy::default() };
        assert_eq!(strict.band_of_score(6.5), Band::High);
        assert_eq!(strict.band_of(Some("")), Band::Critical);
    }
}
