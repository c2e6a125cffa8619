//! Signed checkpoints: the C2SP `tlog-checkpoint` body inside a C2SP `signed-note`, with Ed25519
//! signatures (the format of Go's `golang.org/x/mod/sumdb/note`, sum.golang.org, Sigstore and the
//! transparency-dev witnesses).
//!
//! * A **signed note** ([`SignedNote`]) is UTF-8 text ending in a newline, a blank line, then one
//!   signature line per signer: `— <key name> <base64(key id || signature)>`, the key id being 4
//!   bytes and the signature over the text (with its final newline). No ASCII control character but
//!   newline anywhere; at most 100 signatures. Several signature lines make cosignatures (a
//!   witness's next to the log's); a signature by a key the verifier does not know is kept but not
//!   counted, a signature by a known key that does not verify rejects the note.
//! * **Keys** ([`NoteSigner`], [`NoteVerifier`]): Ed25519 made from a 32-byte seed the caller
//!   provides. The key id is the first 4 bytes (big-endian) of `SHA-256(name || "\n" || 0x01 ||
//!   public key)`; a key name is non-empty, without `+` or whitespace. The published form, the
//!   *vkey*, is `<name>+<key id, 8 hex digits>+<base64(0x01 || public key)>`.
//! * A **checkpoint** ([`Checkpoint`]) body is the origin line, the tree size in decimal, the base64
//!   root hash (32 bytes, SHA-256 per RFC 9162), then optional non-empty extension lines.
//!
//! Every parse error names the line (1-based, counted over the whole note) and what is wrong.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// The algorithm byte of an Ed25519 key in a signed note.
const ALG_ED25519: u8 = 0x01;
/// The most signatures a note may carry (as Go's `note.Open`).
pub const MAX_SIGNATURES: usize = 100;
/// The prefix of a signature line: an em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a note, a key or a signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note's text or a signature line is malformed.
    #[error("line {line}: {what}")]
    Malformed {
        /// 1-based line of the note.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// A key name that is empty, or holds `+` or whitespace.
    #[error("invalid key name {0:?}: it must be non-empty, without '+' or whitespace")]
    KeyName(String),
    /// A vkey (or public key) that cannot be read.
    #[error("invalid verifier key: {0}")]
    VerifierKey(String),
    /// A private key that cannot be read (the message never holds the key).
    #[error("invalid private key: {0}")]
    SignerKey(String),
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("line {line}: more than {MAX_SIGNATURES} signatures")]
    TooManySignatures {
        /// The line of the signature past the limit.
        line: usize,
    },
    /// Two trusted keys with the same name and key id.
    #[error("two trusted keys are {name}+{key_id:08x}")]
    AmbiguousKey {
        /// Their name.
        name: String,
        /// Their key id.
        key_id: u32,
    },
    /// A signature by a trusted key that does not verify.
    #[error("line {line}: the signature by {name}+{key_id:08x} does not verify")]
    BadSignature {
        /// The signature's line.
        line: usize,
        /// The key's name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// No signature by any trusted key.
    #[error("no signature by a trusted key (signed by: {signed_by})")]
    NoTrustedSignature {
        /// The `name+keyid` of every signature line, comma-separated.
        signed_by: String,
    },
}

/// Why a checkpoint is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The body is malformed.
    #[error("checkpoint line {line}: {what}")]
    Body {
        /// 1-based line of the note.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// The note around it is malformed or not signed as required.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The origin line is not the log's.
    #[error("origin {got:?}, expected {expected:?}")]
    Origin {
        /// The checkpoint's origin.
        got: String,
        /// The origin expected.
        expected: String,
    },
    /// The log's own key did not sign it.
    #[error("not signed by the log's key {name}+{key_id:08x}")]
    NoLogSignature {
        /// The log key's name.
        name: String,
        /// Its key id.
        key_id: u32,
    },
}

/// A key name is non-empty and holds no `+` and no (Unicode) whitespace.
fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(NoteError::KeyName(name.to_string()));
    }
    Ok(())
}

/// The key id: the first 4 bytes of `SHA-256(name || "\n" || 0x01 || public key)`, big-endian.
pub fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Signs notes with an Ed25519 key under a name.
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner").field("name", &self.name).field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// The signer `name` whose Ed25519 key is made from `seed` (32 bytes the caller provides).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<NoteSigner, NoteError> {
        check_name(name)?;
        let key = SigningKey::from_bytes(seed);
        Ok(NoteSigner { name: name.to_string(), key_id: key_id(name, key.verifying_key().as_bytes()), key })
    }

    /// Reads a private key as Go's `note` package writes it:
    /// `PRIVATE+KEY+<name>+<key id, 8 hex digits>+<base64(0x01 || seed)>`, checking the key id.
    pub fn from_skey(skey: &str) -> Result<NoteSigner, NoteError> {
        // Never echo the key itself in an error.
        let bad = |what: &str| NoteError::SignerKey(what.to_string());
        let rest =
            skey.trim().strip_prefix("PRIVATE+KEY+").ok_or_else(|| bad("it does not start with PRIVATE+KEY+"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("not PRIVATE+KEY+name+keyid+key"));
        };
        check_name(name)?;
        let id = (id_hex.len() == 8 && id_hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(id_hex, 16).ok())
            .flatten()
            .ok_or_else(|| bad("the key id is not 8 hex digits"))?;
        let raw = STANDARD.decode(key_b64).map_err(|_| bad("the key is not base64"))?;
        let Some((&alg, seed)) = raw.split_first() else {
            return Err(bad("the key is empty"));
        };
        if alg != ALG_ED25519 {
            return Err(bad(&format!("algorithm 0x{alg:02x} is not Ed25519 (0x01)")));
        }
        let seed: [u8; 32] = seed.try_into().map_err(|_| bad("an Ed25519 seed is 32 bytes"))?;
        let signer = NoteSigner::from_seed(name, &seed)?;
        if signer.key_id != id {
            return Err(bad(&format!("key id {id:08x} is not the key's ({:08x})", signer.key_id)));
        }
        Ok(signer)
    }

    /// The private key in Go's `note` format (see [`NoteSigner::from_skey`]): keep it secret.
    pub fn to_skey(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("PRIVATE+KEY+{}+{:08x}+{}", self.name, self.key_id, STANDARD.encode(raw))
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The same key as a DSSE signer (its DSSE key id: the SHA-256 of the public key), for
    /// attestations signed by the log's key.
    pub fn dsse_signer(&self) -> super::dsse::DsseSigner {
        super::dsse::DsseSigner::from_seed(self.key.as_bytes())
    }

    /// The verifier of this signer's signatures (publish its [`NoteVerifier::to_vkey`]).
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier { name: self.name.clone(), key_id: self.key_id, key: self.key.verifying_key() }
    }

    fn signature(&self, text: &str) -> NoteSignature {
        NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: self.key.sign(text.as_bytes()).to_bytes().to_vec(),
            line: 0,
        }
    }
}

/// A trusted public key: checks signatures by `name+key_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// The verifier `name` of a 32-byte Ed25519 public key.
    pub fn from_public_key(name: &str, public_key: &[u8; 32]) -> Result<NoteVerifier, NoteError> {
        check_name(name)?;
        let key = VerifyingKey::from_bytes(public_key)
            .map_err(|_| NoteError::VerifierKey("not an Ed25519 public key".into()))?;
        Ok(NoteVerifier { name: name.to_string(), key_id: key_id(name, public_key), key })
    }

    /// Reads a vkey, `<name>+<key id, 8 hex digits>+<base64(0x01 || public key)>`, and checks that
    /// the key id is the key's.
    pub fn from_vkey(vkey: &str) -> Result<NoteVerifier, NoteError> {
        let bad = |what: &str| NoteError::VerifierKey(format!("{what} in {vkey:?}"));
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("not name+keyid+key"));
        };
        check_name(name)?;
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the key id is not 8 hex digits"));
        }
        let id = u32::from_str_radix(id_hex, 16).map_err(|_| bad("the key id is not 8 hex digits"))?;
        let raw = STANDARD.decode(key_b64).map_err(|_| bad("the key is not base64"))?;
        let Some((&alg, public)) = raw.split_first() else {
            return Err(bad("the key is empty"));
        };
        if alg != ALG_ED25519 {
            return Err(bad(&format!("algorithm 0x{alg:02x} is not Ed25519 (0x01)")));
        }
        let public: [u8; 32] = public.try_into().map_err(|_| bad("an Ed25519 key is 32 bytes"))?;
        let verifier = NoteVerifier::from_public_key(name, &public)?;
        if verifier.key_id != id {
            return Err(bad(&format!("key id {id:08x} is not the key's ({:08x})", verifier.key_id)));
        }
        Ok(verifier)
    }

    /// The vkey to publish: `<name>+<key id>+<base64(0x01 || public key)>`.
    pub fn to_vkey(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, STANDARD.encode(raw))
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    fn verifies(&self, text: &str, signature: &[u8]) -> bool {
        ed25519_dalek::Signature::from_slice(signature)
            .is_ok_and(|s| self.key.verify_strict(text.as_bytes(), &s).is_ok())
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key's name.
    pub name: String,
    /// The key id.
    pub key_id: u32,
    /// The signature bytes (after the 4-byte key id).
    pub signature: Vec<u8>,
    /// The 1-based line it was read from (0 for a signature made here).
    pub line: usize,
}

impl NoteSignature {
    fn to_line(&self) -> String {
        let mut raw = self.key_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, STANDARD.encode(raw))
    }
}

/// A signed note: its text and signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    /// The signed text, ending in a newline.
    pub text: String,
    /// The signatures, in order.
    pub signatures: Vec<NoteSignature>,
}

/// The text of a note: non-empty, ending in a newline, no ASCII control character but newline.
fn check_text(text: &str) -> Result<(), NoteError> {
    for (i, line) in text.split('\n').enumerate() {
        if let Some(c) = line.chars().find(|c| c.is_ascii_control()) {
            return Err(NoteError::Malformed { line: i + 1, what: format!("control character U+{:04X}", c as u32) });
        }
    }
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed {
            line: text.split('\n').count(),
            what: "the text must end in a newline".into(),
        });
    }
    Ok(())
}

impl SignedNote {
    /// A note of `text` signed by each of `signers`.
    pub fn sign(text: &str, signers: &[&NoteSigner]) -> Result<SignedNote, NoteError> {
        check_text(text)?;
        let mut note = SignedNote { text: text.to_string(), signatures: Vec::new() };
        for s in signers {
            note.add_signature(s);
        }
        Ok(note)
    }

    /// Adds (or replaces) `signer`'s signature: how a witness cosigns a note it has checked.
    pub fn add_signature(&mut self, signer: &NoteSigner) {
        let sig = signer.signature(&self.text);
        self.signatures.retain(|s| !(s.name == sig.name && s.key_id == sig.key_id));
        self.signatures.push(sig);
    }

    /// Reads a signed note (syntax only; [`SignedNote::verify`] checks signatures).
    pub fn parse(message: &str) -> Result<SignedNote, NoteError> {
        // The text is everything up to the last blank line; the rest is signature lines.
        check_text(message)?;
        let Some(split) = message.rfind("\n\n") else {
            let lines = message.split('\n').count() - 1;
            return Err(NoteError::Malformed { line: lines, what: "no blank line before the signatures".into() });
        };
        let text = &message[..split + 1];
        let first_sig_line = text.split('\n').count() + 1;
        let block = &message[split + 2..];
        if block.is_empty() {
            return Err(NoteError::Malformed { line: first_sig_line, what: "no signature lines".into() });
        }
        let mut signatures = Vec::new();
        // The block ends in '\n' (check_text), so the last piece of the split is empty.
        for (i, line) in block.split_terminator('\n').enumerate() {
            let number = first_sig_line + i;
            let malformed = |what: &str| NoteError::Malformed { line: number, what: what.to_string() };
            let rest = line
                .strip_prefix(SIG_PREFIX)
                .ok_or_else(|| malformed("a signature line starts with an em dash (U+2014) and a space"))?;
            let (name, b64) = rest.split_once(' ').ok_or_else(|| malformed("a signature line is '— name base64'"))?;
            check_name(name).map_err(|e| malformed(&e.to_string()))?;
            let raw = STANDARD.decode(b64).map_err(|_| malformed("the signature is not base64"))?;
            if raw.len() < 5 {
                return Err(malformed("the signature is shorter than a key id and one byte"));
            }
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures { line: number });
            }
            signatures.push(NoteSignature {
                name: name.to_string(),
                key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
                signature: raw[4..].to_vec(),
                line: number,
            });
        }
        Ok(SignedNote { text: text.to_string(), signatures })
    }

    /// Checks the signatures against trusted keys: a signature by a trusted key (same name and key
    /// id) must verify, signatures by other keys are ignored, and at least one trusted key must
    /// have signed. Returns the trusted keys that signed, each once, in signature order.
    pub fn verify<'k>(&self, trusted: &'k [NoteVerifier]) -> Result<Vec<&'k NoteVerifier>, NoteError> {
        let mut signed: Vec<&NoteVerifier> = Vec::new();
        for sig in &self.signatures {
            let mut matching = trusted.iter().filter(|v| v.name == sig.name && v.key_id == sig.key_id);
            let Some(verifier) = matching.next() else { continue };
            if matching.any(|other| other.key != verifier.key) {
                return Err(NoteError::AmbiguousKey { name: sig.name.clone(), key_id: sig.key_id });
            }
            if !verifier.verifies(&self.text, &sig.signature) {
                return Err(NoteError::BadSignature { line: sig.line, name: sig.name.clone(), key_id: sig.key_id });
            }
            if !signed.iter().any(|s| s.key == verifier.key && s.name == verifier.name) {
                signed.push(verifier);
            }
        }
        if signed.is_empty() {
            let names: Vec<String> = self.signatures.iter().map(|s| format!("{}+{:08x}", s.name, s.key_id)).collect();
            return Err(NoteError::NoTrustedSignature { signed_by: names.join(", ") });
        }
        Ok(signed)
    }
}

impl std::fmt::Display for SignedNote {
    /// The note as sent: text, blank line, signature lines.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for s in &self.signatures {
            f.write_str(&s.to_line())?;
        }
        Ok(())
    }
}

/// A checkpoint: a log's tree head (C2SP tlog-checkpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line (its identity).
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The RFC 9162 root hash of the first `size` leaves.
    pub root_hash: Hash,
    /// Extension lines (each non-empty), in order.
    pub extensions: Vec<String>,
}

/// A checkpoint whose signatures checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The note, with every signature line (trusted or not).
    pub note: SignedNote,
    /// `name+keyid` of every trusted key that signed: the log's first, then witnesses.
    pub signed_by: Vec<String>,
}

impl Checkpoint {
    /// The checkpoint's body: origin, size, base64 root hash, extension lines, each ending in a newline.
    pub fn body(&self) -> String {
        let mut out = format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root_hash));
        for e in &self.extensions {
            out.push_str(e);
            out.push('\n');
        }
        out
    }

    /// Reads a checkpoint body (a note's text).
    pub fn parse(body: &str) -> Result<Checkpoint, CheckpointError> {
        let bad = |line: usize, what: &str| CheckpointError::Body { line, what: what.to_string() };
        if !body.ends_with('\n') {
            return Err(bad(body.split('\n').count(), "the body must end in a newline"));
        }
        let lines: Vec<&str> = body[..body.len() - 1].split('\n').collect();
        if lines.len() < 3 {
            return Err(bad(lines.len() + 1, "a checkpoint has an origin, a size and a root hash line"));
        }
        let origin = lines[0];
        if origin.is_empty() {
            return Err(bad(1, "the origin is empty"));
        }
        if let Some(c) = body.chars().find(|c| c.is_ascii_control() && *c != '\n') {
            return Err(bad(
                1 + body.split(c).next().map_or(0, |p| p.matches('\n').count()),
                &format!("control character U+{:04X}", c as u32),
            ));
        }
        let size_text = lines[1];
        if size_text.is_empty()
            || !size_text.bytes().all(|b| b.is_ascii_digit())
            || (size_text.len() > 1 && size_text.starts_with('0'))
        {
            return Err(bad(2, &format!("the tree size {size_text:?} is not a decimal number without leading zeros")));
        }
        let size =
            size_text.parse::<u64>().map_err(|_| bad(2, &format!("the tree size {size_text} is above 2^64-1")))?;
        let root = STANDARD.decode(lines[2]).map_err(|_| bad(3, "the root hash is not base64"))?;
        let root_hash: Hash = root
            .as_slice()
            .try_into()
            .map_err(|_| bad(3, &format!("the root hash is {} bytes, not 32", root.len())))?;
        let mut extensions = Vec::new();
        for (i, e) in lines[3..].iter().enumerate() {
            if e.is_empty() {
                return Err(bad(4 + i, "an extension line is empty"));
            }
            extensions.push(e.to_string());
        }
        Ok(Checkpoint { origin: origin.to_string(), size, root_hash, extensions })
    }

    /// The checkpoint as a note signed by `signers` (the log's key first).
    pub fn sign(&self, signers: &[&NoteSigner]) -> Result<SignedNote, CheckpointError> {
        Ok(SignedNote::sign(&self.body(), signers)?)
    }

    /// Reads and checks a signed checkpoint: the note's syntax, the log's signature (required), the
    /// signatures of any `witnesses` present (each must verify), and the origin line.
    pub fn open(
        message: &str,
        origin: &str,
        log: &NoteVerifier,
        witnesses: &[NoteVerifier],
    ) -> Result<VerifiedCheckpoint, CheckpointError> {
        let note = SignedNote::parse(message)?;
        let mut trusted = vec![log.clone()];
        trusted.extend(witnesses.iter().cloned());
        let signed = note.verify(&trusted).map_err(|e| match e {
            NoteError::NoTrustedSignature { .. } => {
                CheckpointError::NoLogSignature { name: log.name.clone(), key_id: log.key_id }
            }
            other => other.into(),
        })?;
        if !signed.iter().any(|v| v.key == log.key && v.name == log.name) {
            return Err(CheckpointError::NoLogSignature { name: log.name.clone(), key_id: log.key_id });
        }
        let checkpoint = Checkpoint::parse(&note.text)?;
        if checkpoint.origin != origin {
            return Err(CheckpointError::Origin { got: checkpoint.origin, expected: origin.to_string() });
        }
        let mut signed_by = vec![format!("{}+{:08x}", log.name, log.key_id)];
        for v in signed {
            let id = format!("{}+{:08x}", v.name, v.key_id);
            if !signed_by.contains(&id) {
                signed_by.push(id);
            }
        }
        Ok(VerifiedCheckpoint { checkpoint, note, signed_by })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> NoteSigner {
        NoteSigner::from_seed("example.com/log", &[5; 32]).expect("name")
    }

    fn witness() -> NoteSigner {
        NoteSigner::from_seed("example.com/witness", &[6; 32]).expect("name")
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "example.com/log".into(),
            size: 12,
            root_hash: [0x42; 32],
            extensions: vec!["time 1700000000".into()],
        }
    }

    #[test]
    fn sign_cosign_open() {
        let (log, witness) = (log(), witness());
        let mut note = checkpoint().sign(&[&log]).expect("signs");
        note.add_signature(&witness);
        let text = note.to_string();
        let opened = Checkpoint::open(&text, "example.com/log", &log.verifier(), &[witness.verifier()]).expect("opens");
        assert_eq!(opened.checkpoint, checkpoint());
        assert_eq!(opened.signed_by.len(), 2);
        assert_eq!(
            SignedNote::parse(&text).expect("parses"),
            SignedNote { signatures: opened.note.signatures.clone(), ..note.clone() }
        );
        // Without the witness key, the witness line is kept but not counted.
        let alone = Checkpoint::open(&text, "example.com/log", &log.verifier(), &[]).expect("opens");
        assert_eq!(alone.signed_by, vec![format!("example.com/log+{:08x}", log.key_id())]);
        assert_eq!(alone.note.signatures.len(), 2);
        // The witness alone is not enough.
        let only_witness = SignedNote::sign(&checkpoint().body(), &[&witness]).expect("signs").to_string();
        assert!(matches!(
            Checkpoint::open(&only_witness, "example.com/log", &log.verifier(), &[witness.verifier()]),
            Err(CheckpointError::NoLogSignature { .. })
        ));
        // Wrong origin.
        assert!(matches!(
            Checkpoint::open(&text, "example.com/other", &log.verifier(), &[]),
            Err(CheckpointError::Origin { .. })
        ));
        // A forged size, signatures unchanged: the log's line (line 6) does not verify.
        let forged = text.replacen("\n12\n", "\n13\n", 1);
        assert_eq!(
            Checkpoint::open(&forged, "example.com/log", &log.verifier(), &[]),
            Err(CheckpointError::Note(NoteError::BadSignature {
                line: 6,
                name: "example.com/log".into(),
                key_id: log.key_id()
            }))
        );
    }

    #[test]
    fn vkeys_round_trip_and_refuse_manglings() {
        let v = log().verifier();
        let vkey = v.to_vkey();
        assert_eq!(NoteVerifier::from_vkey(&vkey).expect("reads"), v);
        for i in 0..vkey.len() {
            if !vkey.is_char_boundary(i) {
                continue;
            }
            assert!(NoteVerifier::from_vkey(&vkey[..i]).is_err(), "prefix {:?}", &vkey[..i]);
        }
        let mut bytes = vkey.clone().into_bytes();
        for i in 0..bytes.len() {
            bytes[i] = bytes[i].wrapping_add(1);
            if let Ok(s) = std::str::from_utf8(&bytes) {
                assert!(NoteVerifier::from_vkey(s).is_err(), "mangled {s:?}");
            }
            bytes[i] = bytes[i].wrapping_sub(1);
        }
        assert!(NoteSigner::from_seed("has space", &[0; 32]).is_err());
        assert!(NoteSigner::from_seed("a+b", &[0; 32]).is_err());
        assert!(NoteSigner::from_seed("", &[0; 32]).is_err());
    }

    #[test]
    fn malformed_notes_say_where() {
        let log = log();
        let good = checkpoint().sign(&[&log]).expect("signs").to_string();
        let line = |r: Result<SignedNote, NoteError>| match r {
            Err(NoteError::Malformed { line, .. }) => line,
            other => panic!("expected a malformed note, got {other:?}"),
        };
        assert_eq!(line(SignedNote::parse(&good.replace("\u{2014} ", "- "))), 6);
        assert_eq!(line(SignedNote::parse(&good.replacen("\n\n", "\n", 1))), 5);
        assert_eq!(line(SignedNote::parse(good.trim_end_matches('\n'))), 6);
        assert_eq!(line(SignedNote::parse(&good.replacen("time", "ti\u{7}me", 1))), 4);
        assert_eq!(line(SignedNote::parse(&format!("{good}junk\n"))), 7);
        let many = format!("{}{}", good, good.lines().last().map(|l| format!("{l}\n")).unwrap_or_default().repeat(100));
        assert_eq!(SignedNote::parse(&many), Err(NoteError::TooManySignatures { line: 106 }));
        let body = |b: &str| match Checkpoint::parse(b) {
            Err(CheckpointError::Body { line, .. }) => line,
            other => panic!("expected a bad body, got {other:?}"),
        };
        assert_eq!(body("\n12\nQkJC\n"), 1);
        assert_eq!(body("log\n012\nQkJC\n"), 2);
        assert_eq!(body("log\n-1\nQkJC\n"), 2);
        assert_eq!(body("log\n99999999999999999999\nQkJC\n"), 2);
        assert_eq!(body("log\n12\nnot base64!\n"), 3);
        assert_eq!(body("log\n12\nQkJC\n"), 3, "3 bytes, not 32");
        assert_eq!(body("log\n12\n"), 3);
        let root = STANDARD.encode([0u8; 32]);
        assert_eq!(body(&format!("log\n12\n{root}\next\n\n")), 5);
        assert_eq!(body(&format!("log\n12\n{root}")), 3);
        assert!(Checkpoint::parse(&format!("log\n0\n{root}\n")).is_ok());
    }
}
