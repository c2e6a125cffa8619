//! trustloop's signed notes and checkpoints against notes no one here wrote (fixtures in
//! `tests/fixtures/transparency/`, sources and licences in the README there): a real checkpoint of
//! sum.golang.org with the log's published vkey, Go's `sumdb/note` test notes (a note signed by two
//! keys, and the exact signature Go's signer makes from a given private key), and the key pairs of
//! transparency-dev/formats' tests. Edited copies must fail.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use trustloop_schemas::transparency::checkpoint::{
    Checkpoint, CheckpointError, NoteError, NoteSigner, NoteVerifier, SignedNote,
};

fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/transparency")
}

fn manifest() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("signed-notes.json")).expect("reads")).expect("JSON")
}

fn s(v: &serde_json::Value) -> &str {
    v.as_str().expect("a string")
}

/// A Go `PRIVATE+KEY+name+id+base64(0x01 || seed)` key: its name and 32-byte seed.
fn go_skey(skey: &str) -> (String, [u8; 32]) {
    let parts: Vec<&str> = skey.split('+').collect();
    assert_eq!(&parts[..2], ["PRIVATE", "KEY"]);
    let raw = STANDARD.decode(parts[4..].join("+")).expect("base64");
    assert_eq!(raw[0], 1, "Ed25519");
    (parts[2].to_string(), raw[1..].try_into().expect("a 32-byte seed"))
}

#[test]
fn a_real_sum_golang_org_checkpoint_verifies() {
    let m = manifest();
    let case = &m["checkpoints"][0];
    let text = std::fs::read_to_string(dir().join(s(&case["file"]))).expect("reads");
    let log = NoteVerifier::from_vkey(s(&case["vkey"])).expect("the published vkey reads");
    assert_eq!(log.to_vkey(), s(&case["vkey"]));
    let opened = Checkpoint::open(&text, s(&case["origin"]), &log, &[]).expect("verifies");
    assert_eq!(opened.checkpoint.size, case["size"].as_u64().expect("size"));
    assert_eq!(STANDARD.encode(opened.checkpoint.root_hash), s(&case["root_hash_base64"]));
    assert!(opened.checkpoint.extensions.is_empty());
    // Re-serialized, it is byte for byte the note it was read from.
    assert_eq!(opened.note.to_string(), text);
    assert_eq!(opened.checkpoint.body(), opened.note.text);

    // Edits: the size, one root-hash character, the origin, the signature, the key.
    let edited_size = text.replace("6476701", "6476702");
    assert!(matches!(
        Checkpoint::open(&edited_size, s(&case["origin"]), &log, &[]),
        Err(CheckpointError::Note(NoteError::BadSignature { line: 5, .. }))
    ));
    let edited_root = text.replacen("mb8Q", "mb8R", 1);
    assert!(Checkpoint::open(&edited_root, s(&case["origin"]), &log, &[]).is_err());
    assert!(matches!(
        Checkpoint::open(&text, "go.sum database tree (fork)", &log, &[]),
        Err(CheckpointError::Origin { .. })
    ));
    let edited_sig = text.replacen("Az3grsLX", "Az3grsLY", 1);
    assert!(Checkpoint::open(&edited_sig, s(&case["origin"]), &log, &[]).is_err());
    let other = NoteSigner::from_seed("sum.golang.org", &[1; 32]).expect("name").verifier();
    assert!(matches!(
        Checkpoint::open(&text, s(&case["origin"]), &other, &[]),
        Err(CheckpointError::NoLogSignature { .. })
    ));
}

#[test]
fn gos_two_signature_note_verifies() {
    let m = manifest();
    let case = &m["notes"][0];
    let text = std::fs::read_to_string(dir().join(s(&case["file"]))).expect("reads");
    let keys: Vec<NoteVerifier> =
        case["vkeys"].as_array().expect("vkeys").iter().map(|v| NoteVerifier::from_vkey(s(v)).expect("vkey")).collect();
    let note = SignedNote::parse(&text).expect("parses");
    assert_eq!(note.text, s(&case["text"]));
    assert_eq!(note.signatures.len(), 2);
    assert_eq!(note.signatures[0].key_id, 0xc74f20a3);
    assert_eq!(note.signatures[1].key_id, 0xaf0cfe78);
    assert_eq!(note.verify(&keys).expect("both verify").len(), 2);
    // One known key: its signature verifies, the other is ignored.
    assert_eq!(note.verify(&keys[..1]).expect("Peter verifies").len(), 1);
    assert_eq!(note.verify(&keys[1..]).expect("Enoch verifies")[0].name(), "EnochRoot");
    assert!(matches!(note.verify(&[]), Err(NoteError::NoTrustedSignature { .. })));
    // Go's "invalid signature" case: four characters inserted into Peter's signature.
    let peter_line = text.lines().nth(3).expect("line 4");
    let split = peter_line.char_indices().nth(60).map(|(i, _)| i).expect("long enough");
    let mangled = text.replacen(peter_line, &format!("{}ABCD{}", &peter_line[..split], &peter_line[split..]), 1);
    let mangled = SignedNote::parse(&mangled).expect("still parses");
    assert!(matches!(mangled.verify(&keys[..1]), Err(NoteError::BadSignature { line: 4, .. })));
    // Go's malformed notes.
    let bad = [
        s(&case["text"]).to_string(),
        format!("{}\n", s(&case["text"])),
        text.trim_end_matches('\n').to_string(),
        format!("\u{1}{text}"),
        format!("{text}Unexpected line.\n"),
        text.replacen("PeterNeumann", "Bad Name", 1),
    ];
    for b in bad {
        assert!(SignedNote::parse(&b).is_err(), "parsed: {b:?}");
    }
}

#[test]
fn go_keys_sign_exactly_as_go_does() {
    let m = manifest();
    let case = &m["signing"][0];
    let (name, seed) = go_skey(s(&case["skey"]));
    let signer = NoteSigner::from_seed(&name, &seed).expect("signer");
    assert_eq!(signer.verifier().to_vkey(), s(&case["vkey"]));
    let note = SignedNote::sign(s(&case["text"]), &[&signer]).expect("signs");
    assert_eq!(note.to_string(), s(&case["signed"]));
    for pair in m["key_pairs"].as_array().expect("pairs") {
        let (name, seed) = go_skey(s(&pair[0]));
        let signer = NoteSigner::from_seed(&name, &seed).expect("signer");
        assert_eq!(signer.verifier().to_vkey(), s(&pair[1]), "{name}");
        // The library reads and writes Go's private keys as Go does.
        let read = NoteSigner::from_skey(s(&pair[0])).expect("Go's skey reads");
        assert_eq!(read.verifier().to_vkey(), s(&pair[1]), "{name}");
        assert_eq!(read.to_skey(), s(&pair[0]), "{name}");
        let wrong_id =
            s(&pair[0]).replacen(&format!("{:08x}", read.key_id()), &format!("{:08x}", read.key_id() ^ 1), 1);
        assert!(NoteSigner::from_skey(&wrong_id).is_err(), "a wrong key id is refused");
        assert!(NoteSigner::from_skey(s(&pair[1])).is_err(), "a vkey is not a private key");
    }
    for bad in m["bad_vkeys"].as_array().expect("bad vkeys") {
        assert!(NoteVerifier::from_vkey(s(bad)).is_err(), "{bad}");
    }
}

#[test]
fn a_witness_cosigns_the_real_checkpoint() {
    // The shape trustloop's witness will have: open the log's checkpoint, add its own signature.
    let m = manifest();
    let case = &m["checkpoints"][0];
    let text = std::fs::read_to_string(dir().join(s(&case["file"]))).expect("reads");
    let log = NoteVerifier::from_vkey(s(&case["vkey"])).expect("vkey");
    let mut opened = Checkpoint::open(&text, s(&case["origin"]), &log, &[]).expect("verifies");
    let witness = NoteSigner::from_seed("witness.example", &[7; 32]).expect("name");
    opened.note.add_signature(&witness);
    let cosigned = opened.note.to_string();
    assert!(cosigned.starts_with(&text), "the log's lines stay as they were");
    let again = Checkpoint::open(&cosigned, s(&case["origin"]), &log, &[witness.verifier()]).expect("verifies");
    assert_eq!(
        again.signed_by,
        vec!["sum.golang.org+033de0ae".to_string(), format!("witness.example+{:08x}", witness.key_id())]
    );
}
