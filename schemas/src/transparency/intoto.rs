//! The in-toto Statement v1 (in-toto/attestation `spec/v1/statement.md`), carried in a DSSE
//! envelope with payload type `application/vnd.in-toto+json`.
//!
//! ```json
//! {"_type": "https://in-toto.io/Statement/v1",
//!  "subject": [{"name": "…", "digest": {"sha256": "…"}}],
//!  "predicateType": "…", "predicate": {…}}
//! ```
//!
//! [`Statement::from_json`] checks what the spec requires: the `_type`, at least one subject, each
//! with a non-empty digest set, and a `sha256` digest (when given) of 64 lowercase hex digits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::dsse::{DsseError, DsseSigner, DsseVerifier, Envelope};

/// The `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// The DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// An in-toto Statement v1: what is attested (`subject`) and the claim (`predicate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// The artifacts the predicate is about.
    pub subject: Vec<Subject>,
    /// A URI naming the predicate's schema.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The claim itself (optional in the spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<serde_json::Value>,
}

/// One artifact a statement is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The artifact's name (e.g. `arroyo@2023-12`).
    pub name: String,
    /// Its digests by algorithm (`sha256` → lowercase hex).
    pub digest: BTreeMap<String, String>,
}

impl Subject {
    /// A subject with one SHA-256 digest.
    pub fn sha256(name: impl Into<String>, digest: &[u8; 32]) -> Subject {
        Subject { name: name.into(), digest: BTreeMap::from([("sha256".to_string(), hex::encode(digest))]) }
    }
}

/// Why a statement is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InTotoError {
    /// Not JSON of the statement's shape.
    #[error("not an in-toto statement: {0}")]
    Json(String),
    /// `_type` is not [`STATEMENT_TYPE`].
    #[error("_type is {0:?}, not {STATEMENT_TYPE}")]
    Type(String),
    /// No subject.
    #[error("a statement needs at least one subject")]
    NoSubject,
    /// A subject's digest set is empty or its `sha256` is not 64 lowercase hex digits.
    #[error("subject[{index}] ({name:?}): {what}")]
    Digest {
        /// The subject's position.
        index: usize,
        /// Its name.
        name: String,
        /// What is wrong.
        what: String,
    },
    /// The envelope does not verify or is not an in-toto payload.
    #[error(transparent)]
    Envelope(#[from] DsseError),
}

impl Statement {
    /// A statement of `predicate` (of type `predicate_type`) about `subject`.
    pub fn new(subject: Vec<Subject>, predicate_type: impl Into<String>, predicate: serde_json::Value) -> Statement {
        Statement {
            statement_type: STATEMENT_TYPE.to_string(),
            subject,
            predicate_type: predicate_type.into(),
            predicate: Some(predicate),
        }
    }

    /// The statement as JSON bytes (keys of maps in sorted order, so equal statements give equal bytes).
    pub fn to_json(&self) -> Vec<u8> {
        // Strings, maps of strings and a serde_json value always serialize.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads and checks a statement.
    pub fn from_json(bytes: &[u8]) -> Result<Statement, InTotoError> {
        let s: Statement = serde_json::from_slice(bytes).map_err(|e| InTotoError::Json(e.to_string()))?;
        s.check()?;
        Ok(s)
    }

    /// Checks what the spec requires of a statement.
    pub fn check(&self) -> Result<(), InTotoError> {
        if self.statement_type != STATEMENT_TYPE {
            return Err(InTotoError::Type(self.statement_type.clone()));
        }
        if self.subject.is_empty() {
            return Err(InTotoError::NoSubject);
        }
        for (index, s) in self.subject.iter().enumerate() {
            let wrong = |what: &str| InTotoError::Digest { index, name: s.name.clone(), what: what.to_string() };
            if s.digest.is_empty() {
                return Err(wrong("empty digest set"));
            }
            if let Some(d) = s.digest.get("sha256")
                && (d.len() != 64 || !d.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            {
                return Err(wrong("sha256 is not 64 lowercase hex digits"));
            }
        }
        Ok(())
    }

    /// The statement in a DSSE envelope signed by `signers`.
    pub fn sign(&self, signers: &[&DsseSigner]) -> Envelope {
        Envelope::sign(PAYLOAD_TYPE, &self.to_json(), signers)
    }

    /// The statement of an envelope that `threshold` of `keys` signed, with the in-toto payload type.
    pub fn open(envelope: &Envelope, keys: &[DsseVerifier], threshold: usize) -> Result<Statement, InTotoError> {
        envelope.verify(keys, threshold)?;
        if envelope.payload_type != PAYLOAD_TYPE {
            return Err(
                DsseError::PayloadType { got: envelope.payload_type.clone(), expected: PAYLOAD_TYPE.into() }.into()
            );
        }
        Statement::from_json(&envelope.payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement() -> Statement {
        Statement::new(
            vec![Subject::sha256("arroyo@2023-12", &[0xab; 32])],
            "https://trustloop.dev/verdict/v1",
            serde_json::json!({"outcome": "fail", "reasons": ["high-with-fix-in-prod"]}),
        )
    }

    #[test]
    fn the_json_has_the_specs_field_names() {
        let v: serde_json::Value = serde_json::from_slice(&statement().to_json()).expect("JSON");
        assert_eq!(v["_type"], STATEMENT_TYPE);
        assert_eq!(v["subject"][0]["name"], "arroyo@2023-12");
        assert_eq!(v["subject"][0]["digest"]["sha256"], "ab".repeat(32));
        assert_eq!(v["predicateType"], "https://trustloop.dev/verdict/v1");
        assert_eq!(v["predicate"]["outcome"], "fail");
    }

    #[test]
    fn sign_open_and_refuse() {
        let signer = DsseSigner::from_seed(&[9; 32]);
        let env = statement().sign(&[&signer]);
        assert_eq!(env.payload_type, PAYLOAD_TYPE);
        assert_eq!(Statement::open(&env, &[signer.verifier()], 1).expect("opens"), statement());
        let other = DsseSigner::from_seed(&[8; 32]);
        assert!(Statement::open(&env, &[other.verifier()], 1).is_err());
        let wrong_type = Envelope::sign("application/json", &statement().to_json(), &[&signer]);
        assert!(matches!(
            Statement::open(&wrong_type, &[signer.verifier()], 1),
            Err(InTotoError::Envelope(DsseError::PayloadType { .. }))
        ));
    }

    #[test]
    fn bad_statements_are_refused() {
        let mut s = statement();
        s.statement_type = "https://in-toto.io/Statement/v0.1".into();
        assert!(matches!(Statement::from_json(&s.to_json()), Err(InTotoError::Type(_))));
        let mut s = statement();
        s.subject.clear();
        assert_eq!(Statement::from_json(&s.to_json()), Err(InTotoError::NoSubject));
        let mut s = statement();
        s.subject[0].digest.insert("sha256".into(), "AB".repeat(32));
        assert!(matches!(Statement::from_json(&s.to_json()), Err(InTotoError::Digest { index: 0, .. })));
        let mut s = statement();
        s.subject[0].digest.clear();
        assert!(matches!(Statement::from_json(&s.to_json()), Err(InTotoError::Digest { .. })));
        assert!(matches!(Statement::from_json(b"{\"_type\": 1}"), Err(InTotoError::Json(_))));
    }
}
