//! `Cargo.lock` files into `ReleaseInventory` events: every package from crates.io becomes a
//! component (`pkg:cargo/NAME@VERSION`, ecosystem `crates.io`). Workspace members, path and git
//! dependencies have no crates.io identity and are counted as skipped.

use std::path::Path;

use trustloop_schemas::{Component, EventTime, InventoryFormat, LeftOutComponent, ReleaseInventory};

use super::ImportError;
pub use super::release::ReleaseRef;
use super::release::inventory;

/// A parsed release inventory and what was left out of it.
#[derive(Debug, Clone)]
pub struct LockfileInventory {
    /// The inventory event.
    pub inventory: ReleaseInventory,
    /// Packages not from crates.io (workspace members, path and git dependencies).
    pub skipped: Vec<String>,
}

/// The crates.io packages of a `Cargo.lock` text (sorted by purl, deduplicated), and the packages
/// left out as `name@version` (workspace members, path and git dependencies).
pub fn packages(text: &str, path: &str) -> Result<(Vec<Component>, Vec<String>), ImportError> {
    let lock: cargo_lock::Lockfile = text.parse().map_err(|e: cargo_lock::Error| ImportError {
        path: path.to_string(),
        pointer: String::new(),
        reason: e.to_string(),
    })?;
    let mut components = Vec::new();
    let mut skipped = Vec::new();
    for p in &lock.packages {
        let from_crates_io = p.source.as_ref().is_some_and(|s| s.is_default_registry());
        if !from_crates_io {
            skipped.push(format!("{}@{}", p.name, p.version));
            continue;
        }
        components.push(Component {
            purl: format!("pkg:cargo/{}@{}", p.name, p.version),
            ecosystem: "crates.io".into(),
            name: p.name.to_string(),
            version: p.version.to_string(),
            scope: None,
            ..Default::default()
        });
    }
    components.sort_by(|a, b| a.purl.cmp(&b.purl));
    components.dedup();
    Ok((components, skipped))
}

/// Parses a `Cargo.lock` text into the inventory of `release`.
pub fn parse(
    text: &str,
    path: &str,
    release: &ReleaseRef,
    tenant: &str,
    event_time: EventTime,
) -> Result<LockfileInventory, ImportError> {
    let (components, skipped) = packages(text, path)?;
    let mut inventory = inventory(
        release,
        InventoryFormat::CargoLock,
        text.as_bytes(),
        components,
        tenant,
        format!("cargo-lock:{path}"),
        event_time,
    );
    inventory.left_out = skipped
        .iter()
        .map(|s| LeftOutComponent {
            component: s.clone(),
            ecosystem: Some("crates.io".into()),
            reason: "a workspace member, path or git dependency".into(),
            location: path.to_string(),
        })
        .collect();
    Ok(LockfileInventory { inventory, skipped })
}

/// Reads and parses a `Cargo.lock` file.
pub fn parse_file(
    path: &Path,
    release: &ReleaseRef,
    tenant: &str,
    event_time: EventTime,
) -> Result<LockfileInventory, ImportError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ImportError {
        path: name.clone(),
        pointer: String::new(),
        reason: e.to_string(),
    })?;
    parse(&text, &name, release, tenant, event_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"version = 3

[[package]]
name = "app"
version = "0.1.0"
dependencies = ["smallvec"]

[[package]]
name = "smallvec"
version = "0.6.9"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "c4488ae950c49d403731982257768f48fada354a5203fe81f9bb6f43ca9002be"
"#;

    #[test]
    fn registry_packages_become_components() {
        let r = ReleaseRef::parse("app@1.0.0", Some("prod".into())).expect("release");
        let inv = parse(LOCK, "Cargo.lock", &r, "acme", EventTime::from_micros(1)).expect("parse");
        assert_eq!(inv.inventory.components.len(), 1);
        assert_eq!(inv.inventory.components[0].purl, "pkg:cargo/smallvec@0.6.9");
        assert_eq!(inv.skipped, vec!["app@0.1.0"]);
        assert_eq!(&*inv.inventory.envelope.key, "app@1.0.0");
        assert!(parse("not toml [[", "x", &r, "acme", EventTime::from_micros(1)).is_err());
        assert!(ReleaseRef::parse("nover", None).is_err());
    }
}
