//! SBOM text forms turned into the JSON shape the JSON importers read.

pub mod cyclonedx_xml;
