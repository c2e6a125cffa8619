//! Policies: versioned YAML documents (release gates, VEX issuer weights, trust scoring and trust
//! rules, enforcement budgets), parsed with line/column errors, validated, and digested over a
//! canonical form.
//!
//! * [`parse`] / [`check`] — YAML → [`PolicyDoc`], or [`PolicyError`]s with line, column and key path.
//! * [`PolicyDoc::canonical_json`] / [`PolicyDoc::digest`] — SHA-256 hex over canonical JSON: stable
//!   across formatting, comments, key order, set order and spelled-out defaults.
//! * [`default_policy`] — the policy in force until one is applied; its source [`DEFAULT_YAML`] is the
//!   documentation of the format, field by field.
//! * [`severity`] — CVSS scores from vectors and the bands a policy sorts them into.

pub mod accept;
pub mod duration;
pub mod error;
pub mod matchers;
pub mod model;
pub mod severity;
pub mod validate;
pub mod workflow;

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

pub use duration::Duration;
pub use error::PolicyError;
pub use matchers::{Cwe, Dependency, LicenseJudgement, LicenseMatch};
pub use model::*;
pub use severity::{Band, CvssError, cvss_score};
pub use workflow::{StepCall, Workflow, WorkflowStepSpec};

/// The default policy's YAML, which documents every field of the format.
pub const DEFAULT_YAML: &str = include_str!("default.yaml");

/// Parses and validates a policy document; the first problem (in document order) is the error.
pub fn parse(yaml: &str) -> Result<PolicyDoc, PolicyError> {
    check(yaml).map_err(|mut errors| errors.swap_remove(0))
}

/// Parses and validates a policy document, reporting every semantic problem (sorted by position; a
/// syntax or type error stops parsing, so it comes alone). The error list is never empty.
pub fn check(yaml: &str) -> Result<PolicyDoc, Vec<PolicyError>> {
    if yaml.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---") {
        return Err(vec![PolicyError::document(
            "the document is empty: a policy needs at least `api_version: trustloop/v1` and `name`",
        )]);
    }
    let de = serde_yaml_ng::Deserializer::from_str(yaml);
    let mut doc: PolicyDoc = serde_path_to_error::deserialize(de).map_err(|e| vec![PolicyError::from_serde(e)])?;
    let issues = validate::validate(&doc);
    if !issues.is_empty() {
        let mut errors: Vec<PolicyError> = issues.iter().map(|(path, msg)| PolicyError::at(yaml, path, msg)).collect();
        // Located ones first, by position; then the others in model order (a stable sort).
        errors.sort_by_key(|e| (e.line.is_none(), e.line, e.column));
        return Err(errors);
    }
    doc.normalize();
    Ok(doc)
}

/// The default policy (the parsed [`DEFAULT_YAML`]), in force until a policy is applied.
pub fn default_policy() -> PolicyDoc {
    static DEFAULT: OnceLock<PolicyDoc> = OnceLock::new();
    DEFAULT
        .get_or_init(|| match parse(DEFAULT_YAML) {
            Ok(doc) => doc,
            // The shipped file is tested to parse; reaching this is a build defect.
            Err(e) => panic!("the shipped default policy is invalid: {e}"),
        })
        .clone()
}

impl PolicyDoc {
    /// The canonical form: JSON of the parsed, normalised document, object keys sorted, no
    /// whitespace, every field present (defaults spelled out), durations and times in their
    /// canonical spelling. Being JSON, it is also a valid policy document itself.
    pub fn canonical_json(&self) -> String {
        // Serialising the model cannot fail: string keys only, and validated numbers are finite.
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        let mut out = String::with_capacity(4096);
        write_canonical(&value, &mut out);
        out
    }

    /// SHA-256 (lowercase hex) of [`PolicyDoc::canonical_json`].
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_json().as_bytes()))
    }
}

/// JSON with object keys in byte order (independent of serde_json's map implementation).
pub(crate) fn write_canonical(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests;
