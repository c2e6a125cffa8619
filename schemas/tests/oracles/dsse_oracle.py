"""An independent DSSE oracle for trustloop's tests: securesystemslib (PyPI) verifies and signs
DSSE envelopes with Ed25519 keys from the `cryptography` package. Nothing here is trustloop's code.

    dsse_oracle.py verify ENVELOPE.json THRESHOLD PUBHEX...
        prints {"verified": bool, "error": str|null, "keyids": [...], "envelope_keyids": [...],
                "payload_type": str, "payload": str (UTF-8, replaced)}; a key's id is the lowercase hex
        SHA-256 of its 32 raw bytes, computed here
    dsse_oracle.py sign SEEDHEX PAYLOAD_TYPE PAYLOAD_FILE
        prints the envelope securesystemslib makes (key id as above)

Exit status 3, with the reason on stderr, when securesystemslib or cryptography is missing.
"""
import hashlib
import json
import sys

try:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import VerificationError
    from securesystemslib.signer import CryptoSigner, SSlibKey
except ImportError as e:  # the Rust test skips with this reason
    print(f"missing: {e}", file=sys.stderr)
    sys.exit(3)


def key_for(pub: bytes) -> SSlibKey:
    keyid = hashlib.sha256(pub).hexdigest()
    return SSlibKey(keyid, "ed25519", "ed25519", {"public": pub.hex()})


def verify(path: str, threshold: int, pubs: list) -> dict:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    env = Envelope.from_dict(data)
    keys = [key_for(bytes.fromhex(p)) for p in pubs]
    out = {
        "keyids": [k.keyid for k in keys],
        "envelope_keyids": list(env.signatures.keys()),
        "payload_type": env.payload_type,
        "payload": env.payload.decode("utf-8", "replace"),
    }
    try:
        accepted = env.verify(keys, threshold)
        out.update(verified=True, error=None, accepted=sorted(accepted.keys()))
    except VerificationError as e:
        out.update(verified=False, error=str(e), accepted=[])
    return out


def sign(seed_hex: str, payload_type: str, payload_path: str) -> dict:
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex))
    from cryptography.hazmat.primitives import serialization

    pub = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    signer = CryptoSigner(private, key_for(pub))
    with open(payload_path, "rb") as f:
        payload = f.read()
    env = Envelope(payload, payload_type, {})
    env.sign(signer)
    return env.to_dict()


if __name__ == "__main__":
    if sys.argv[1] == "verify":
        print(json.dumps(verify(sys.argv[2], int(sys.argv[3]), sys.argv[4:])))
    elif sys.argv[1] == "sign":
        print(json.dumps(sign(sys.argv[2], sys.argv[3], sys.argv[4])))
    else:
        sys.exit(f"unknown command {sys.argv[1]!r}")
