//! Evidence digests: SHA-256 over a canonical, length-prefixed encoding of exactly the inputs that
//! determined a verdict. The replay command recomputes it byte for byte, so the encoding is fixed:
//!
//! ```text
//! item(x)   = u64_be(len(x)) ‖ x                  (8-byte big-endian length, then the bytes)
//! group(n,D)= item(n) ‖ item(u64_be(|D|)) ‖ item(d_1) ‖ … ‖ item(d_k)
//!             (d_i: the 32-byte canonical digests, sorted ascending bytewise, duplicates kept)
//!
//! evidence  = SHA-256(
//!     item("trustloop.evidence.v1")
//!     item(kind)                 "release" or "entity"
//!     item(policy_digest)        the policy's digest as its 64 ASCII lowercase hex characters
//!     item(subject)              UTF-8: NAME@VERSION@ENVIRONMENT, or the entity name
//!     item(now)                  i64_be(µs since the epoch) of the operator's watermark when a
//!                                time-based rule was evaluated (see below), else empty (length 0)
//!     group("findings", F)       release: canonical digests of every open finding of NAME@VERSION
//!     group("approvals", A)      release: canonical digests of the latest approval event of each
//!                                approver of the subject, when an approval rule applies to its
//!                                environment (else empty)
//!     group("promotion", P)      release: canonical digest of the subject's latest promotion request
//!     group("trust-score", S)    entity: canonical digest of the entity's latest trust score
//!     texts("epss", E)           release, only when a rule with an EPSS condition applies to the
//!                                subject: the EPSS score in force for each open finding that has
//!                                one, as UTF-8 `CVE|epss|percentile|score-date` (the finding's
//!                                highest-scored CVE; numbers as Rust prints f64), sorted, each once
//!     texts("labels", L)         release, only when a rule with a `labels` condition applies to
//!                                the subject's environment: the release's labels as UTF-8
//!                                `KEY=VALUE`, sorted (none: an empty list)
//! )                              (every group but `epss` and `labels` is always present; unused
//!                                ones are empty)
//! texts(n,T)= item(n) ‖ item(u64_be(|T|)) ‖ item(t_1) ‖ … ‖ item(t_k)
//! ```
//!
//! Canonical digests are `trustloop_schemas::canonical_digest` of the input events as received.
//! A release verdict "evaluated a time-based rule" when a freeze window applies to its environment, a
//! waiver lists its release (`NAME` or `NAME@VERSION`), or a considered approval has an expiry.
//! The result is lowercase hex.

use sha2::{Digest, Sha256};
use trustloop_schemas::{EventTime, SubjectKind};

/// The domain-separation tag the encoding starts with.
pub const DOMAIN: &str = "trustloop.evidence.v1";

/// The inputs of one verdict, as the evidence digest sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence<'a> {
    /// Release or entity.
    pub kind: SubjectKind,
    /// Digest of the policy in force.
    pub policy_digest: &'a str,
    /// The subject.
    pub subject: &'a str,
    /// The "now" used, when a time-based rule was evaluated.
    pub now: Option<EventTime>,
    /// Canonical digests of the findings considered (any order: they are sorted).
    pub findings: Vec<[u8; 32]>,
    /// Canonical digests of the approvals considered.
    pub approvals: Vec<[u8; 32]>,
    /// Canonical digest of the promotion request considered.
    pub promotion: Option<[u8; 32]>,
    /// Canonical digest of the trust score considered.
    pub trust_score: Option<[u8; 32]>,
    /// The EPSS scores considered, when an EPSS condition was evaluated (any order: sorted and
    /// de-duplicated when encoded).
    pub epss: Option<Vec<String>>,
    /// The release's labels as `KEY=VALUE`, when a rule with a `labels` condition was evaluated
    /// (any order: sorted when encoded).
    pub labels: Option<Vec<String>>,
}

impl Evidence<'_> {
    /// The encoded bytes the digest is taken over (for tests and replay diagnostics).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + 40 * self.findings.len());
        self.feed(&mut |b| out.extend_from_slice(b));
        out
    }

    /// SHA-256 (lowercase hex) of [`Evidence::encode`], hashed without materialising the bytes.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        self.feed(&mut |b| h.update(b));
        hex::encode(h.finalize())
    }

    fn feed(&self, sink: &mut dyn FnMut(&[u8])) {
        let mut item = |bytes: &[u8]| {
            sink(&(bytes.len() as u64).to_be_bytes());
            sink(bytes);
        };
        item(DOMAIN.as_bytes());
        item(match self.kind {
            SubjectKind::Release => b"release",
            SubjectKind::Entity => b"entity",
        });
        item(self.policy_digest.as_bytes());
        item(self.subject.as_bytes());
        match self.now {
            Some(t) => item(&t.as_micros().to_be_bytes()),
            None => item(&[]),
        }
        let mut group = |name: &str, digests: &[[u8; 32]]| {
            let mut sorted = digests.to_vec();
            sorted.sort_unstable();
            item(name.as_bytes());
            item(&(sorted.len() as u64).to_be_bytes());
            for d in &sorted {
                item(d);
            }
        };
        group("findings", &self.findings);
        group("approvals", &self.approvals);
        group("promotion", self.promotion.as_slice());
        group("trust-score", self.trust_score.as_slice());
        let mut texts = |name: &str, texts: &[String]| {
            let sorted: std::collections::BTreeSet<&String> = texts.iter().collect();
            item(name.as_bytes());
            item(&(sorted.len() as u64).to_be_bytes());
            for t in sorted {
                item(t.as_bytes());
            }
        };
        if let Some(scores) = &self.epss {
            texts("epss", scores);
        }
        if let Some(labels) = &self.labels {
            texts("labels", labels);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_length_prefixed_and_sorted() {
        let e = Evidence {
            kind: SubjectKind::Release,
            policy_digest: "ab",
            subject: "s@1@prod",
            now: Some(EventTime::from_micros(1)),
            findings: vec![[2; 32], [1; 32]],
            approvals: vec![],
            promotion: Some([3; 32]),
            trust_score: None,
            epss: None,
            labels: None,
        };
        let bytes = e.encode();
        let mut expected = Vec::new();
        let mut item = |b: &[u8]| {
            expected.extend_from_slice(&(b.len() as u64).to_be_bytes());
            expected.extend_from_slice(b);
        };
        item(b"trustloop.evidence.v1");
        item(b"release");
        item(b"ab");
        item(b"s@1@prod");
        item(&1i64.to_be_bytes());
        item(b"findings");
        item(&2u64.to_be_bytes());
        item(&[1; 32]);
        item(&[2; 32]);
        item(b"approvals");
        item(&0u64.to_be_bytes());
        item(b"promotion");
        item(&1u64.to_be_bytes());
        item(&[3; 32]);
        item(b"trust-score");
        item(&0u64.to_be_bytes());
        assert_eq!(bytes, expected);
        assert_eq!(e.digest(), hex::encode(Sha256::digest(&expected)));
        // The order the digests are given in does not matter; "no now" differs from now = 0.
        let swapped = Evidence { findings: vec![[1; 32], [2; 32]], ..e.clone() };
        assert_eq!(swapped.digest(), e.digest());
        let no_now = Evidence { now: None, ..e.clone() };
        let zero = Evidence { now: Some(EventTime::from_micros(0)), ..e.clone() };
        assert_ne!(no_now.digest(), zero.digest());
    }
}
