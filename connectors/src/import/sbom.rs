//! SBOMs of any form trustloop reads: which one a document is, and its inventory.
//!
//! CycloneDX JSON and SPDX 2.2/2.3 JSON are read directly; CycloneDX XML, SPDX tag-value and SPDX 3.0
//! JSON-LD are converted by `trustloop_formats::sbom` to the JSON shape first. The inventory's
//! `document_digest` is always that of the original bytes. Errors in a converted document name its
//! line (`line 12:5`, in [`ImportError::pointer`]) when the conversion fails, else a JSON pointer
//! into the converted shape.

use std::path::Path;

use serde::Deserialize;
use trustloop_formats::sbom::{self as text, TextForm};
use trustloop_schemas::EventTime;

use super::ImportError;
use super::release::{ReleaseChoice, SbomInventory};
use super::{cyclonedx, spdx};

/// An SBOM form trustloop reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SbomFormat {
    /// CycloneDX JSON.
    CycloneDx,
    /// SPDX 2.2/2.3 JSON.
    Spdx,
    /// CycloneDX XML.
    CycloneDxXml,
    /// SPDX tag-value.
    SpdxTagValue,
    /// SPDX 3.0 JSON-LD.
    Spdx3JsonLd,
}

impl std::fmt::Display for SbomFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SbomFormat::CycloneDx => "CycloneDX JSON",
            SbomFormat::Spdx => "SPDX JSON",
            SbomFormat::CycloneDxXml => "CycloneDX XML",
            SbomFormat::SpdxTagValue => "SPDX tag-value",
            SbomFormat::Spdx3JsonLd => "SPDX 3.0 JSON-LD",
        })
    }
}

impl From<TextForm> for SbomFormat {
    fn from(form: TextForm) -> SbomFormat {
        match form {
            TextForm::CycloneDxXml => SbomFormat::CycloneDxXml,
            TextForm::SpdxTagValue => SbomFormat::SpdxTagValue,
            TextForm::Spdx3JsonLd => SbomFormat::Spdx3JsonLd,
        }
    }
}

/// The two top-level members that tell the JSON formats apart; everything else is skipped unread.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Marker {
    #[serde(default)]
    bom_format: Option<serde_json::Value>,
    #[serde(default)]
    spdx_version: Option<serde_json::Value>,
}

/// The form of a document: CycloneDX XML, SPDX tag-value or SPDX 3.0 JSON-LD as
/// `trustloop_formats::sbom::detect` tells them; else CycloneDX JSON when its `bomFormat` is
/// `CycloneDX`, SPDX JSON when it has an `spdxVersion` string; `None` for anything else.
pub fn detect(bytes: &[u8]) -> Option<SbomFormat> {
    if let Some(form) = text::detect(bytes) {
        return Some(form.into());
    }
    let m: Marker = serde_json::from_slice(bytes).ok()?;
    if m.bom_format.as_ref().and_then(|v| v.as_str()) == Some("CycloneDX") {
        Some(SbomFormat::CycloneDx)
    } else if m.spdx_version.as_ref().is_some_and(|v| v.is_string()) {
        Some(SbomFormat::Spdx)
    } else {
        None
    }
}

/// Deserializes a document already read into a JSON value (named `path` in errors): an error
/// carries the JSON pointer of the offending value.
pub(crate) fn from_value<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    path: &str,
) -> Result<T, ImportError> {
    serde_path_to_error::deserialize(value).map_err(|e| ImportError {
        path: path.to_string(),
        pointer: super::json_pointer(e.path()),
        reason: e.inner().to_string(),
    })
}

/// Parses an SBOM of any form (detected with [`detect`]) into the inventory of `release`.
/// `path` names the document in errors and in the event's source; `event_time` is used when the
/// document carries no creation time.
pub fn parse(
    bytes: &[u8],
    path: &str,
    release: &ReleaseChoice,
    tenant: &str,
    event_time: EventTime,
) -> Result<(SbomFormat, SbomInventory), ImportError> {
    let Some(format) = detect(bytes) else {
        let reason = match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Err(e) => format!("not JSON ({e}), nor CycloneDX XML, SPDX tag-value or SPDX 3.0 JSON-LD"),
            Ok(_) => "neither a CycloneDX (`bomFormat`) nor an SPDX (`spdxVersion`) JSON document".to_string(),
        };
        return Err(ImportError { path: path.to_string(), pointer: String::new(), reason });
    };
    let inventory = match format {
        SbomFormat::CycloneDx => cyclonedx::parse(bytes, path, release, tenant, event_time)?,
        SbomFormat::Spdx => spdx::parse(bytes, path, release, tenant, event_time)?,
        SbomFormat::CycloneDxXml => {
            let value = text::to_json(TextForm::CycloneDxXml, bytes, path).map_err(ImportError::from)?;
            cyclonedx::parse_value(value, bytes, path, release, tenant, event_time)?
        }
        SbomFormat::SpdxTagValue | SbomFormat::Spdx3JsonLd => {
            let form = if format == SbomFormat::SpdxTagValue { TextForm::SpdxTagValue } else { TextForm::Spdx3JsonLd };
            let value = text::to_json(form, bytes, path).map_err(ImportError::from)?;
            spdx::parse_value(value, bytes, path, release, tenant, event_time)?
        }
    };
    Ok((format, inventory))
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
            b"<bom xmlns=\"http://example.com/bom\"/>",
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
