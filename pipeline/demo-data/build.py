#!/usr/bin/env python3
"""Rebuilds the demo's sample of real data from ../shared/data (run from the repository root).

- advisories.jsonl.gz: the RustSec advisory history (upserts and deletes in commit order, with
  their commit times) restricted to the crates of the two lockfiles below — a real advisory stream.
- arroyo-2023-12.Cargo.lock.gz, tansu-0.3.0.Cargo.lock.gz: real lockfiles.
- dropwizard-1.3.15.cdx.json.gz: a real CycloneDX SBOM (Maven).
"""
import gzip, json, os, re, sys

shared = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data")
out = os.path.dirname(os.path.abspath(__file__))
locks = ["arroyo-2023-12", "tansu-0.3.0"]
crates = set()
for lock in locks:
    text = open(os.path.join(shared, "lockfiles", f"{lock}.Cargo.lock"), "rb").read()
    crates |= set(re.findall(r'^name = "([^"]+)"', text.decode(), re.M))
    with gzip.GzipFile(os.path.join(out, f"{lock}.Cargo.lock.gz"), "wb", mtime=0) as f:
        f.write(text)
kept = 0
with gzip.open(os.path.join(shared, "advisories", "rustsec-history.jsonl.gz"), "rt") as src, \
        gzip.GzipFile(os.path.join(out, "advisories.jsonl.gz"), "wb", mtime=0) as dst:
    for line in src:
        item = json.loads(line)
        crate = item["path"].split("/")[-2] if "/" in item["path"] else ""
        names = {a["package"]["name"] for a in (item["osv"] or {}).get("affected", [])}
        if crate in crates or names & crates:
            dst.write(line.encode())
            kept += 1
sbom = open(os.path.join(shared, "sboms", "cyclonedx", "dropwizard-1.3.15", "bom.json"), "rb").read()
with gzip.GzipFile(os.path.join(out, "dropwizard-1.3.15.cdx.json.gz"), "wb", mtime=0) as f:
    f.write(sbom)
print(f"{kept} advisory events for {len(crates)} crates", file=sys.stderr)
