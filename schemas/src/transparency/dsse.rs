//! DSSE v1 (Dead Simple Signing Envelope, secure-systems-lab/dsse `protocol.md` and `envelope.md`)
//! with Ed25519 signatures.
//!
//! * [`pae`] — the pre-authentication encoding that is signed:
//!   `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, `LEN` the ASCII decimal byte length.
//! * [`Envelope`] — the JSON envelope `{"payload": base64, "payloadType": …, "signatures":
//!   [{"keyid": …, "sig": base64}]}`; [`Envelope::sign`], [`Envelope::to_json`],
//!   [`Envelope::from_json`] (standard or URL-safe base64, as the protocol requires verifiers to
//!   accept) and [`Envelope::verify`] (the protocol's multi-signature verification: at least
//!   `threshold` distinct trusted keys must have signed).
//! * Keys: [`DsseSigner`] from a 32-byte seed the caller provides; [`DsseVerifier`] from a public
//!   key. The key id (an unauthenticated hint, never trusted) is [`key_id`]: the lowercase hex
//!   SHA-256 of the 32-byte Ed25519 public key.

use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The pre-authentication encoding of DSSE v1: what is signed for `payload_type` and `payload`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let head = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len());
    let mut out = Vec::with_capacity(head.len() + payload.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(payload);
    out
}

/// The key id of an Ed25519 public key: lowercase hex SHA-256 of its 32 bytes.
pub fn key_id(public_key: &[u8; 32]) -> String {
    hex::encode(Sha256::digest(public_key))
}

/// Why an envelope could not be read or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsseError {
    /// The envelope is not JSON of the envelope's shape.
    #[error("not a DSSE envelope: {0}")]
    Json(String),
    /// A base64 field does not decode (standard or URL-safe alphabet).
    #[error("{field} is not base64")]
    Base64 {
        /// `payload` or `signatures[i].sig`.
        field: String,
    },
    /// Bytes that are not an Ed25519 public key.
    #[error("not an Ed25519 public key")]
    PublicKey,
    /// The threshold asked for is 0.
    #[error("a threshold of 0 accepts anything")]
    ZeroThreshold,
    /// Fewer distinct trusted keys signed than the threshold.
    #[error("{verified} of the required {threshold} trusted keys signed (signatures: {signatures})")]
    NotEnoughSignatures {
        /// Distinct trusted keys whose signature verified.
        verified: usize,
        /// Keys required.
        threshold: usize,
        /// Signatures in the envelope.
        signatures: usize,
    },
    /// The envelope verifies but carries another payload type than expected.
    #[error("payload type {got:?}, expected {expected:?}")]
    PayloadType {
        /// The envelope's payload type.
        got: String,
        /// The type expected.
        expected: String,
    },
}

/// Signs DSSE envelopes with an Ed25519 key.
pub struct DsseSigner {
    keyid: String,
    key: SigningKey,
}

impl DsseSigner {
    /// The signer whose Ed25519 key is made from `seed` (32 bytes the caller provides); its key id
    /// is [`key_id`] of the public key.
    pub fn from_seed(seed: &[u8; 32]) -> DsseSigner {
        let key = SigningKey::from_bytes(seed);
        DsseSigner { keyid: key_id(key.verifying_key().as_bytes()), key }
    }

    /// This signer under another key id (the hint written next to each signature).
    pub fn with_keyid(self, keyid: impl Into<String>) -> DsseSigner {
        DsseSigner { keyid: keyid.into(), ..self }
    }

    /// The key id written next to this signer's signatures.
    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    /// The verifier of this signer's signatures (same key id).
    pub fn verifier(&self) -> DsseVerifier {
        DsseVerifier { keyid: self.keyid.clone(), key: self.key.verifying_key() }
    }
}

impl std::fmt::Debug for DsseSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DsseSigner").field("keyid", &self.keyid).finish_non_exhaustive()
    }
}

/// A trusted Ed25519 public key that envelopes are verified against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsseVerifier {
    keyid: String,
    key: VerifyingKey,
}

impl DsseVerifier {
    /// The verifier for a 32-byte Ed25519 public key, with key id [`key_id`].
    pub fn from_public_key(public_key: &[u8; 32]) -> Result<DsseVerifier, DsseError> {
        let key = VerifyingKey::from_bytes(public_key).map_err(|_| DsseError::PublicKey)?;
        Ok(DsseVerifier { keyid: key_id(public_key), key })
    }

    /// This verifier under another key id.
    pub fn with_keyid(self, keyid: impl Into<String>) -> DsseVerifier {
        DsseVerifier { keyid: keyid.into(), ..self }
    }

    /// The key id signatures by this key carry.
    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The key id hint (may be empty: it is optional and never trusted).
    pub keyid: String,
    /// The signature bytes.
    pub sig: Vec<u8>,
}

/// A DSSE envelope: a payload, its type and its signatures over [`pae`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The serialized body.
    pub payload: Vec<u8>,
    /// How to interpret the payload (e.g. `application/vnd.in-toto+json`).
    pub payload_type: String,
    /// The signatures, in order.
    pub signatures: Vec<Signature>,
}

#[derive(Serialize, Deserialize)]
struct JsonEnvelope {
    payload: String,
    #[serde(rename = "payloadType")]
    payload_type: String,
    signatures: Vec<JsonSignature>,
}

#[derive(Serialize, Deserialize)]
struct JsonSignature {
    #[serde(default)]
    keyid: String,
    sig: String,
}

/// Decodes standard or URL-safe base64, padded or not (DSSE verifiers must accept either).
fn decode_any(s: &str) -> Option<Vec<u8>> {
    const CONFIG: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, CONFIG);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, CONFIG);
    STANDARD.decode(s).or_else(|_| URL_SAFE.decode(s)).ok()
}

impl Envelope {
    /// An envelope of `payload` signed by each of `signers`.
    pub fn sign(payload_type: &str, payload: &[u8], signers: &[&DsseSigner]) -> Envelope {
        let message = pae(payload_type, payload);
        let signatures = signers
            .iter()
            .map(|s| Signature { keyid: s.keyid.clone(), sig: s.key.sign(&message).to_bytes().to_vec() })
            .collect();
        Envelope { payload: payload.to_vec(), payload_type: payload_type.to_string(), signatures }
    }

    /// The envelope as JSON (standard base64, padded).
    pub fn to_json(&self) -> String {
        let b64 = &general_purpose::STANDARD;
        let json = JsonEnvelope {
            payload: b64.encode(&self.payload),
            payload_type: self.payload_type.clone(),
            signatures: self
                .signatures
                .iter()
                .map(|s| JsonSignature { keyid: s.keyid.clone(), sig: b64.encode(&s.sig) })
                .collect(),
        };
        // A struct of strings always serializes.
        serde_json::to_string(&json).unwrap_or_default()
    }

    /// Reads an envelope from JSON; says which field is wrong.
    pub fn from_json(text: &str) -> Result<Envelope, DsseError> {
        let json: JsonEnvelope = serde_json::from_str(text).map_err(|e| DsseError::Json(e.to_string()))?;
        let payload = decode_any(&json.payload).ok_or(DsseError::Base64 { field: "payload".into() })?;
        let signatures = json
            .signatures
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let sig = decode_any(&s.sig).ok_or(DsseError::Base64 { field: format!("signatures[{i}].sig") })?;
                Ok(Signature { keyid: s.keyid, sig })
            })
            .collect::<Result<_, DsseError>>()?;
        Ok(Envelope { payload, payload_type: json.payload_type, signatures })
    }

    /// Verifies the envelope against trusted keys (DSSE multi-signature verification): each
    /// signature is tried with the keys whose key id it names (all keys when it names none); at
    /// least `threshold` distinct keys must verify. Returns the key ids of the keys that did.
    pub fn verify(&self, keys: &[DsseVerifier], threshold: usize) -> Result<Vec<String>, DsseError> {
        if threshold == 0 {
            return Err(DsseError::ZeroThreshold);
        }
        let message = pae(&self.payload_type, &self.payload);
        let mut accepted: Vec<&DsseVerifier> = Vec::new();
        for signature in &self.signatures {
            let Ok(sig) = ed25519_dalek::Signature::from_slice(&signature.sig) else {
                continue;
            };
            let candidates = keys.iter().filter(|k| signature.keyid.is_empty() || k.keyid == signature.keyid);
            for key in candidates {
                if key.key.verify_strict(&message, &sig).is_ok() {
                    if !accepted.iter().any(|a| a.key == key.key) {
                        accepted.push(key);
                    }
                    break;
                }
            }
        }
        if accepted.len() < threshold {
            return Err(DsseError::NotEnoughSignatures {
                verified: accepted.len(),
                threshold,
                signatures: self.signatures.len(),
            });
        }
        Ok(accepted.iter().map(|k| k.keyid.clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_the_specs_example() {
        // secure-systems-lab/dsse protocol.md, "Test Vectors".
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        // LEN counts bytes, not characters.
        assert_eq!(pae("t", "é".as_bytes()), "DSSEv1 1 t 2 é".as_bytes());
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    #[test]
    fn the_specs_envelope_parses() {
        // protocol.md's result envelope (an ECDSA signature: it parses, our Ed25519 keys reject it).
        let text = r#"{"payload": "aGVsbG8gd29ybGQ=",
 "payloadType": "http://example.com/HelloWorld",
 "signatures": [{"sig": "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA=="}]}"#;
        let env = Envelope::from_json(text).expect("parses");
        assert_eq!(env.payload, b"hello world");
        assert_eq!(env.payload_type, "http://example.com/HelloWorld");
        assert_eq!(env.signatures.len(), 1);
        assert_eq!(env.signatures[0].keyid, "");
        assert_eq!(env.signatures[0].sig.len(), 64);
        let key = DsseSigner::from_seed(&[7; 32]).verifier();
        assert!(matches!(env.verify(&[key], 1), Err(DsseError::NotEnoughSignatures { verified: 0, .. })));
    }

    #[test]
    fn sign_verify_and_tamper() {
        let (a, b) = (DsseSigner::from_seed(&[1; 32]), DsseSigner::from_seed(&[2; 32]));
        let env = Envelope::sign("application/example", b"{\"x\":1}", &[&a, &b]);
        let round = Envelope::from_json(&env.to_json()).expect("round trips");
        assert_eq!(round, env);
        assert_eq!(round.verify(&[a.verifier()], 1).expect("a verifies"), vec![a.keyid().to_string()]);
        assert_eq!(round.verify(&[a.verifier(), b.verifier()], 2).expect("both").len(), 2);
        assert!(round.verify(&[a.verifier()], 2).is_err());
        assert_eq!(round.verify(&[a.verifier()], 0), Err(DsseError::ZeroThreshold));
        // The same key listed twice counts once.
        assert!(round.verify(&[a.verifier(), a.verifier()], 2).is_err());
        // The key id is only a hint: a wrong one hides the key, an empty one tries every key.
        let mut hinted = round.clone();
        hinted.signatures[0].keyid = String::new();
        assert!(hinted.verify(&[a.verifier()], 1).is_ok());
        hinted.signatures[0].keyid = "someone-else".into();
        assert!(hinted.verify(&[a.verifier()], 1).is_err());
        // Tampering with the payload, the type or the signature fails.
        let mut t = round.clone();
        t.payload[2] ^= 1;
        assert!(t.verify(&[a.verifier(), b.verifier()], 1).is_err());
        let mut t = round.clone();
        t.payload_type.push('x');
        assert!(t.verify(&[a.verifier(), b.verifier()], 1).is_err());
        let mut t = round.clone();
        t.signatures[0].sig[10] ^= 0x40;
        t.signatures[1].sig.truncate(63);
        assert!(t.verify(&[a.verifier(), b.verifier()], 1).is_err());
    }

    #[test]
    fn url_safe_and_unpadded_base64_are_accepted() {
        let a = DsseSigner::from_seed(&[3; 32]);
        let env = Envelope::sign("t", &[0xfb, 0xff, 0xfe], &[&a]);
        let json = env.to_json().replace('+', "-").replace('/', "_").replace('=', "");
        let back = Envelope::from_json(&json).expect("URL-safe, unpadded");
        assert_eq!(back, env);
        assert!(matches!(
            Envelope::from_json(r#"{"payload":"!!","payloadType":"t","signatures":[]}"#),
            Err(DsseError::Base64 { .. })
        ));
        assert!(matches!(Envelope::from_json(r#"{"payload":"","signatures":[]}"#), Err(DsseError::Json(_))));
        let bad_sig = r#"{"payload":"","payloadType":"t","signatures":[{"sig":"%%"}]}"#;
        assert_eq!(Envelope::from_json(bad_sig), Err(DsseError::Base64 { field: "signatures[0].sig".into() }));
    }
}
