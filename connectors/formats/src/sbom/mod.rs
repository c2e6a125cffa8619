//! SBOM text forms turned into the JSON shape the JSON importers read.
//!
//! [`detect`] tells a form from the first bytes of a document; [`to_json`] converts it: CycloneDX
//! XML into the shape of CycloneDX JSON, SPDX tag-value and SPDX 3.0 JSON-LD into the shape of
//! SPDX 2.x JSON.

pub mod cyclonedx_xml;
pub mod spdx3;
pub mod spdx_tag;

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use serde_json::Value;

use crate::error::{FormatError, Location};

/// An SBOM form that is converted before a JSON importer reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextForm {
    /// CycloneDX XML 1.2–1.7, converted to the CycloneDX JSON shape.
    CycloneDxXml,
    /// SPDX 2.x tag-value, converted to the SPDX 2.x JSON shape.
    SpdxTagValue,
    /// SPDX 3.0 JSON-LD, converted to the SPDX 2.3 JSON shape.
    Spdx3JsonLd,
}

/// How much of a JSON document is searched for the SPDX 3 markers.
const JSON_SNIFF: usize = 64 * 1024;

/// The form of `bytes`, if it is one of the [`TextForm`]s: XML whose root is `<bom>` in a CycloneDX
/// namespace; text whose first line (after blank lines and `#` comments) is `SPDXVersion:`; a JSON
/// object whose first 64 KiB hold an `@context` naming `spdx.org/rdf/3` or an `@graph`.
pub fn detect(bytes: &[u8]) -> Option<TextForm> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = bytes.get(start..)?;
    match rest.first()? {
        b'<' => is_cyclonedx_xml(rest).then_some(TextForm::CycloneDxXml),
        b'{' => is_spdx3_json(rest).then_some(TextForm::Spdx3JsonLd),
        _ => is_spdx_tag_value(rest).then_some(TextForm::SpdxTagValue),
    }
}

fn is_cyclonedx_xml(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else { return false };
    let mut reader = NsReader::from_str(text);
    loop {
        match reader.read_resolved_event() {
            Ok((ResolveResult::Bound(ns), Event::Start(e) | Event::Empty(e))) => {
                return e.local_name().as_ref() == "bom" && ns.0.starts_with(cyclonedx_xml::NAMESPACE_PREFIX);
            }
            Ok((_, Event::Start(_) | Event::Empty(_) | Event::Eof)) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

fn is_spdx3_json(bytes: &[u8]) -> bool {
    let head = bytes.get(..JSON_SNIFF.min(bytes.len())).unwrap_or(bytes);
    let head = String::from_utf8_lossy(head);
    (head.contains("\"@context\"") && head.contains("spdx.org/rdf/3")) || head.contains("\"@graph\"")
}

fn is_spdx_tag_value(bytes: &[u8]) -> bool {
    bytes
        .split(|&b| b == b'\n' || b == b'\r')
        .map(<[u8]>::trim_ascii)
        .find(|line| !line.is_empty() && !line.starts_with(b"#"))
        .is_some_and(|line| line.starts_with(b"SPDXVersion:"))
}

/// Converts `bytes` (named `path` in errors) of `form` to the JSON shape its importer reads.
///
/// XML and tag-value must be UTF-8 (a byte-order mark is skipped): other bytes are an error at their
/// offset. See [`cyclonedx_xml::to_json`], [`spdx_tag::to_json`] and [`spdx3::to_json`] for the
/// rest.
pub fn to_json(form: TextForm, bytes: &[u8], path: &str) -> Result<Value, FormatError> {
    match form {
        TextForm::CycloneDxXml => cyclonedx_xml::to_json(utf8(bytes, path)?, path),
        TextForm::SpdxTagValue => spdx_tag::to_json(utf8(bytes, path)?, path),
        TextForm::Spdx3JsonLd => spdx3::to_json(bytes, path),
    }
}

fn utf8<'a>(bytes: &'a [u8], path: &str) -> Result<&'a str, FormatError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let at = u64::try_from(e.valid_up_to()).unwrap_or(u64::MAX);
        FormatError::new(path, Location::Offset(at), "not UTF-8 text")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_forms() {
        let cases: [(&[u8], Option<TextForm>); 10] = [
            (
                b"<?xml version=\"1.0\"?>\n<!-- x -->\n<bom xmlns=\"http://cyclonedx.org/schema/bom/1.4\"/>",
                Some(TextForm::CycloneDxXml),
            ),
            (
                b"\xEF\xBB\xBF<c:bom xmlns:c=\"http://cyclonedx.org/schema/bom/1.6\"></c:bom>",
                Some(TextForm::CycloneDxXml),
            ),
            (b"<bom xmlns=\"http://example.com\"/>", None),
            (b"<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"/>", None),
            (b"\n# comment\n\nSPDXVersion: SPDX-2.2\nDataLicense: CC0-1.0", Some(TextForm::SpdxTagValue)),
            (b"SPDXVersion: SPDX-2.2\rDataLicense: CC0-1.0", Some(TextForm::SpdxTagValue)),
            (b"DataLicense: CC0-1.0\nSPDXVersion: SPDX-2.2", None),
            (
                b"{\"@context\": \"https://spdx.org/rdf/3.0.1/spdx-context.jsonld\", \"@graph\": []}",
                Some(TextForm::Spdx3JsonLd),
            ),
            (b"{\"spdxVersion\": \"SPDX-2.3\"}", None),
            (b"", None),
        ];
        for (bytes, form) in cases {
            assert_eq!(detect(bytes), form, "{}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn to_json_dispatches_and_refuses_non_utf8() {
        let v = to_json(TextForm::SpdxTagValue, b"SPDXVersion: SPDX-2.3\n", "a.spdx").expect("convert");
        assert_eq!(v["spdxVersion"], "SPDX-2.3");
        let e = to_json(TextForm::CycloneDxXml, b"<bom>\xff</bom>", "a.xml").expect_err("latin-1");
        assert_eq!(e.location, Location::Offset(5));
    }
}
