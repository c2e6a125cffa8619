//! The weaknesses an advisory names: the CWE ids its findings carry (what the policy's `cwes`
//! matcher reads).

use serde::Deserialize;

use crate::policy::Cwe;

/// The parts of an advisory's `database_specific` that name weaknesses: GHSA's (and OSV's)
/// `cwe_ids: ["CWE-79"]`, and `cwe: {"id": "CWE-1333"}` as `import csaf` writes a CSAF
/// vulnerability's CWE.
#[derive(Debug, Default, Deserialize)]
struct DatabaseSpecific {
    #[serde(default)]
    cwe_ids: Vec<serde_json::Value>,
    #[serde(default)]
    cwe: Option<CweRef>,
}

#[derive(Debug, Deserialize)]
struct CweRef {
    #[serde(default)]
    id: Option<String>,
}

/// The CWE ids an advisory's `database_specific` (JSON text) names, as `CWE-<number>` (upper case,
/// ascending by number, each once). Entries that are not CWE ids, and text that is not a JSON
/// object of that shape, name none.
pub(crate) fn cwes_of(database_specific: Option<&str>) -> Vec<String> {
    let Some(text) = database_specific else { return Vec::new() };
    let Ok(db) = serde_json::from_str::<DatabaseSpecific>(text) else { return Vec::new() };
    let listed = db.cwe_ids.iter().filter_map(|v| v.as_str());
    let mut cwes: Vec<Cwe> =
        listed.chain(db.cwe.as_ref().and_then(|c| c.id.as_deref())).filter_map(Cwe::parse).collect();
    cwes.sort_unstable();
    cwes.dedup();
    cwes.into_iter().map(|c| c.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cwe_ids_are_read_from_ghsa_and_csaf_database_specific() {
        let ghsa = r#"{"cwe_ids": ["CWE-79", "cwe-20", "CWE-79", "NVD-CWE-Other", 7], "severity": "HIGH"}"#;
        assert_eq!(cwes_of(Some(ghsa)), ["CWE-20", "CWE-79"]);
        let csaf = r#"{"source": "csaf", "cwe": {"id": "CWE-1333", "name": "Inefficient Regular Expression"}}"#;
        assert_eq!(cwes_of(Some(csaf)), ["CWE-1333"]);
        assert!(cwes_of(Some(r#"{"cwe_ids": "CWE-79"}"#)).is_empty(), "not a list: none");
        assert!(cwes_of(Some("[1, 2]")).is_empty() && cwes_of(Some("not json")).is_empty() && cwes_of(None).is_empty());
    }
}
