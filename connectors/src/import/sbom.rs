//! SBOMs of either format: which one a document is, and its inventory.

use std::path::Path;

use serde::Deserialize;
use trustloop_schemas::EventTime;

use super::ImportError;
use super::release::{ReleaseChoice, SbomInventory};
use super::{cyclonedx, spdx};

/// An SBOM format trustloop reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SbomFormat {
    /// CycloneDX JSON.
    CycloneDx,
    /// SPDX JSON.
    Spdx,
}

impl std::fmt::Display for SbomFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SbomFormat::CycloneDx => "CycloneDX",
            SbomFormat::Spdx => "SPDX",
        })
    }
}

/// The two top-level members that tell the formats apart; everything else is skipped unread.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Marker {
    #[serde(default)]
    bom_format: Option<serde_json::Value>,
    #[serde(default)]
    spdx_version: Option<serde_json::Value>,
}

/// The format of a JSON document: CycloneDX when its `bomFormat` is `CycloneDX`, SPDX when it has an
/// `spdxVersion` string; `None` for anything else, including text that is not a JSON object.
pub fn detect(bytes: &[u8]) -> Option<SbomFormat> {
    let m: Marker = serde_json::from_slice(bytes).ok()?;
    if m.bom_format.as_ref().and_then(|v| v.as_str()) == Some("CycloneDX") {
        Some(SbomFormat::CycloneDx)
    } else if m.spdx_version.as_ref().is_some_and(|v| v.is_string()) {
        Some(SbomFormat::Spdx)
    } else {
        None
    }
}

/// Parses an SBOM of either format (detected with [`detect`]) into the inventory of `release`.
/// `path` names the document in errors and in the event's source; `event_time` is used when the
/// document carries no creation time.
pub fn parse(
    bytes: &[u8],
    path: &str,
    release: &ReleaseChoice,
    tenant: &str,
    event_time: EventTime,
) -> Result<(SbomFormat, SbomInventory), ImportError> {
    match detect(bytes) {
        Some(SbomFormat::CycloneDx) => {
            cyclonedx::parse(bytes, path, release, tenant, event_time).map(|i| (SbomFormat::CycloneDx, i))
        }
        Some(SbomFormat::Spdx) => spdx::parse(bytes, path, release, tenant, event_time).map(|i| (SbomFormat::Spdx, i)),
        None => {
            let reason = match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Err(e) => format!("not JSON: {e}"),
                Ok(_) => "neither a CycloneDX (`bomFormat`) nor an SPDX (`spdxVersion`) JSON document".to_string(),
            };
            Err(ImportError { path: path.to_string(), pointer: String::new(), reason })
        }
    }
}

/// Reads and parses an SBOM file.
pub fn parse_file(
    path: &Path,
    release: &ReleaseChoice,
    tenant: &str,
    event_time: EventTime,
) -> Result<(SbomFormat, SbomInventory), ImportError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ImportError {
        path: name.clone(),
        pointer: String::new(),
        reason: e.to_string(),
    })?;
    parse(&bytes, &name, release, tenant, event_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_apart() {
        assert_eq!(detect(br#"{"bomFormat":"CycloneDX","specVersion":"1.4"}"#), Some(SbomFormat::CycloneDx));
        assert_eq!(
            detect(br#"{"specVersion":"1.6","components":[{"x":1}],"bomFormat":"CycloneDX"}"#),
            Some(SbomFormat::CycloneDx)
        );
        assert_eq!(detect(br#"{"SPDXID":"SPDXRef-DOCUMENT","spdxVersion":"SPDX-2.3"}"#), Some(SbomFormat::Spdx));
        for other in [
            &br#"{"bomFormat":"cyclonedx"}"#[..],
            br#"{"spdxVersion":2}"#,
            br#"{"@context":"https://openvex.dev/ns/v0.2.0","statements":[]}"#,
            br#"{"id":"GHSA-xxxx","modified":"2024-01-01T00:00:00Z"}"#,
            b"[1,2]",
            b"<bom xmlns=\"http://cyclonedx.org/schema/bom/1.4\"/>",
            b"",
        ] {
            assert_eq!(detect(other), None, "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn dispatch_and_errors() {
        let release = ReleaseChoice::FromDocument { environment: None };
        let t = EventTime::from_micros(0);
        let cdx =
            br#"{"bomFormat":"CycloneDX","specVersion":"1.4","metadata":{"component":{"name":"a","version":"1"}}}"#;
        assert_eq!(parse(cdx, "a.json", &release, "t", t).expect("cyclonedx").0, SbomFormat::CycloneDx);
        let spdx = br#"{"spdxVersion":"SPDX-2.3","documentDescribes":["SPDXRef-a"],"packages":[{"SPDXID":"SPDXRef-a","name":"a","versionInfo":"1"}]}"#;
        assert_eq!(parse(spdx, "a.json", &release, "t", t).expect("spdx").0, SbomFormat::Spdx);
        let e = parse(b"{\"a\":", "x.json", &release, "t", t).expect_err("not json");
        assert!(e.reason.starts_with("not JSON"), "{e}");
        let e = parse(b"{\"a\":1}", "x.json", &release, "t", t).expect_err("not an sbom");
        assert!(e.to_string().starts_with("x.json: neither a CycloneDX"), "{e}");
        let e = parse_file(Path::new("/nonexistent/bom.json"), &release, "t", t).expect_err("no file");
        assert_eq!(e.path, "/nonexistent/bom.json");
    }
}
