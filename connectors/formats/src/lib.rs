//! Parsers of outside formats that trustloop imports, kept pure: each takes the text (and, where a
//! format includes other files, a reader the caller hands in) and returns typed packages or an
//! error with its location. No event types, no I/O of their own: the importers in
//! `trustloop-connectors` turn what these return into events, and the fuzz targets drive them
//! directly.
//!
//! * [`lockfile`] — lockfiles and manifests of every major ecosystem (npm, yarn, pnpm, bun, Python,
//!   Go, Ruby, PHP, Dart, Elixir, Gradle, NuGet, Swift, R, Maven) into [`lockfile::Parsed`].
//! * [`sbom`] — SBOM text forms (CycloneDX XML, SPDX tag-value, SPDX 3.0 JSON-LD) turned into the
//!   JSON shape of CycloneDX / SPDX 2.x JSON, which the JSON importers read.

pub mod error;
pub mod intel;
pub mod lockfile;
pub mod sbom;

pub use error::{FormatError, Location};
