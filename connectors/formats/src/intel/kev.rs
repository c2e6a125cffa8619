//! CISA's Known Exploited Vulnerabilities catalog (<https://www.cisa.gov/known-exploited-vulnerabilities-catalog>,
//! JSON as `known_exploited_vulnerabilities.json` publishes it): the catalog's version and release
//! time, and one [`KevEntry`] per listed CVE.
//!
//! The document must be JSON with `catalogVersion`, `dateReleased` and `vulnerabilities`; otherwise
//! the whole file is an error (with its line and column). Each entry is checked on its own: one
//! without a valid `cveID` or `dateAdded`, or with fields of the wrong type, is reported with its
//! JSON pointer and left out, and the rest of the catalog is read. A CVE listed twice is kept once
//! (its first entry) and the second is reported.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::Value;

use super::{is_cve_id, is_date};
use crate::error::{FormatError, Location};

/// One catalog entry: a CVE known to be exploited in the wild.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KevEntry {
    /// `CVE-YYYY-NNNN`.
    #[serde(rename = "cveID")]
    pub cve_id: String,
    /// Vendor or project.
    #[serde(default)]
    pub vendor_project: Option<String>,
    /// Product.
    #[serde(default)]
    pub product: Option<String>,
    /// CISA's name of the vulnerability.
    #[serde(default)]
    pub vulnerability_name: Option<String>,
    /// When it was added to the catalog, `YYYY-MM-DD`.
    pub date_added: String,
    /// Description.
    #[serde(default)]
    pub short_description: Option<String>,
    /// What federal agencies must do.
    #[serde(default)]
    pub required_action: Option<String>,
    /// When they must have done it, `YYYY-MM-DD`.
    #[serde(default)]
    pub due_date: Option<String>,
    /// `Known` if it is known to be used in ransomware campaigns, else `Unknown`.
    #[serde(default)]
    pub known_ransomware_campaign_use: Option<String>,
    /// Notes and references.
    #[serde(default)]
    pub notes: Option<String>,
    /// CWE ids.
    #[serde(default)]
    pub cwes: Vec<String>,
}

/// A catalog as read: its header, the entries that were well formed, and what was wrong with the
/// others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    /// `catalogVersion` (`2025.08.25`).
    pub version: String,
    /// `dateReleased`, as written (RFC 3339).
    pub released: String,
    /// Well-formed entries, in catalog order (each CVE once).
    pub entries: Vec<KevEntry>,
    /// The entries left out, each with its JSON pointer.
    pub rejected: Vec<FormatError>,
}

/// Reads a catalog (`path` names it in errors).
pub fn parse(text: &str, path: &str) -> Result<Catalog, FormatError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        let location = match (e.line(), e.column()) {
            (0, _) => Location::Document,
            (l, c) => Location::LineColumn(u32::try_from(l).unwrap_or(u32::MAX), u32::try_from(c).unwrap_or(u32::MAX)),
        };
        FormatError::new(path, location, format!("not a KEV catalog: {e}"))
    })?;
    let Value::Object(top) = &doc else {
        return Err(FormatError::new(path, Location::Document, "not a KEV catalog: expected a JSON object"));
    };
    let text_field = |name: &str| -> Result<String, FormatError> {
        match top.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(FormatError::new(path, Location::Pointer(format!("/{name}")), "expected a string")),
            None => Err(FormatError::new(path, Location::Document, format!("not a KEV catalog: `{name}` is missing"))),
        }
    };
    let version = text_field("catalogVersion")?;
    let released = text_field("dateReleased")?;
    let Some(Value::Array(items)) = top.get("vulnerabilities") else {
        return Err(FormatError::new(
            path,
            Location::Pointer("/vulnerabilities".into()),
            "not a KEV catalog: `vulnerabilities` must be an array",
        ));
    };
    let mut entries = Vec::with_capacity(items.len());
    let mut rejected = Vec::new();
    let mut seen = HashSet::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match entry(item, i) {
            Ok(e) if seen.insert(e.cve_id.clone()) => entries.push(e),
            Ok(e) => rejected.push(FormatError::new(
                path,
                Location::Pointer(format!("/vulnerabilities/{i}/cveID")),
                format!("{} is listed twice; the first entry is kept", e.cve_id),
            )),
            Err((pointer, reason)) => rejected.push(FormatError::new(path, Location::Pointer(pointer), reason)),
        }
    }
    Ok(Catalog { version, released, entries, rejected })
}

/// One entry, or the pointer and reason it is left out.
fn entry(item: &Value, i: usize) -> Result<KevEntry, (String, String)> {
    let base = format!("/vulnerabilities/{i}");
    let e: KevEntry = serde_path_to_error::deserialize(item).map_err(|e| {
        let at = e.path().to_string();
        let pointer = if at == "." { base.clone() } else { format!("{base}/{}", at.replace('.', "/")) };
        (pointer, e.into_inner().to_string())
    })?;
    if !is_cve_id(&e.cve_id) {
        return Err((format!("{base}/cveID"), format!("`{}` is not a CVE id (CVE-YYYY-NNNN)", e.cve_id)));
    }
    if !is_date(&e.date_added) {
        return Err((format!("{base}/dateAdded"), format!("`{}` is not a date (YYYY-MM-DD)", e.date_added)));
    }
    if let Some(due) = e.due_date.as_deref().filter(|d| !is_date(d)) {
        return Err((format!("{base}/dueDate"), format!("`{due}` is not a date (YYYY-MM-DD)")));
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = r#"{
      "title": "t", "catalogVersion": "2025.08.25", "dateReleased": "2025-08-25T17:04:19.9796Z", "count": 4,
      "vulnerabilities": [
        {"cveID": "CVE-2021-4034", "vendorProject": "Red Hat", "product": "Polkit", "vulnerabilityName": "pwnkit",
         "dateAdded": "2022-06-27", "dueDate": "2022-07-18", "knownRansomwareCampaignUse": "Unknown", "cwes": ["CWE-787"]},
        {"cveID": "CVE-2021-44228", "dateAdded": "2021-12-10"},
        {"cveID": "NOT-A-CVE", "dateAdded": "2021-12-10"},
        {"cveID": "CVE-2020-0001", "dateAdded": 7},
        {"cveID": "CVE-2021-4034", "dateAdded": "2023-01-01"}
      ]
    }"#;

    #[test]
    fn reads_entries_and_reports_each_bad_one() {
        let c = parse(CATALOG, "kev.json").expect("catalog");
        assert_eq!(c.version, "2025.08.25");
        assert_eq!(
            c.entries.iter().map(|e| e.cve_id.as_str()).collect::<Vec<_>>(),
            ["CVE-2021-4034", "CVE-2021-44228"]
        );
        assert_eq!(c.entries[0].cwes, ["CWE-787"]);
        let errors: Vec<String> = c.rejected.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("kev.json at /vulnerabilities/2/cveID: `NOT-A-CVE`"), "{errors:?}");
        assert!(errors[1].starts_with("kev.json at /vulnerabilities/3/dateAdded: invalid type"), "{errors:?}");
        assert!(errors[2].contains("listed twice"), "{errors:?}");
    }

    #[test]
    fn a_truncated_catalog_is_an_error_with_its_line() {
        let cut = &CATALOG[..CATALOG.len() / 2];
        let e = parse(cut, "kev.json").expect_err("truncated");
        assert!(matches!(e.location, Location::LineColumn(l, _) if l > 1), "{e}");
        assert!(e.reason.contains("EOF"), "{e}");
    }

    #[test]
    fn a_document_that_is_not_a_catalog_says_what_is_missing() {
        let e = parse(r#"{"vulnerabilities": []}"#, "x.json").expect_err("no header");
        assert_eq!(e.to_string(), "x.json: not a KEV catalog: `catalogVersion` is missing");
    }
}
