//! CISA's Known Exploited Vulnerabilities catalog into `KnownExploited` events.
//!
//! One `listed` event per CVE the catalog adds, at event time `dateAdded` (midnight UTC), keyed by
//! the CVE, with the catalog's version, due date, vendor and product, ransomware use, notes and
//! CWEs. What the log already lists (the caller reads it from the `known-exploited` topic) is not
//! listed again; a CVE the log lists that this catalog no longer has gets a `removed` event at the
//! catalog's release time. Events come out in event-time order (then by CVE), so a release decided
//! on them flips at each entry's `dateAdded`. Event ids derive from the CVE, the change and the
//! catalog version: importing the same catalog twice writes nothing the second time.
//!
//! A catalog older than one already imported (a lower `catalogVersion` than a listing or removal in
//! the log names) is refused as a whole: it would take back what the newer catalog added.
//!
//! Reading is [`trustloop_formats::intel::kev`]: a document that is not a catalog is one error; a
//! malformed entry is one rejected item (with its JSON pointer), and the rest is imported.

use std::collections::BTreeSet;

use trustloop_formats::intel::kev::{self, KevEntry};
use trustloop_schemas::{CatalogChange, Envelope, EventTime, EventType, KnownExploited, derive_event_id};

use super::ImportError;

/// The catalog name the events carry.
pub const CATALOG: &str = "cisa-kev";

/// What one catalog file gives.
#[derive(Debug, Clone, PartialEq)]
pub struct KevImport {
    /// The catalog's version.
    pub version: String,
    /// When it was released (`dateReleased`): the time of its removals.
    pub released: EventTime,
    /// The CVEs it lists (upper case), whether new or already listed.
    pub listed: BTreeSet<String>,
    /// Entries in the catalog.
    pub entries: usize,
    /// Events to append: new listings and removals, in event-time order.
    pub events: Vec<KnownExploited>,
    /// Entries not imported, each with its JSON pointer.
    pub rejected: Vec<ImportError>,
}

/// Reads catalog `text` (named `path` in errors) for `tenant`; `listed` are the CVEs the log lists
/// now (as written by earlier imports, any case), `newest` the newest catalog version they came from.
pub fn import(
    text: &str,
    path: &str,
    tenant: &str,
    listed: &BTreeSet<String>,
    newest: Option<&str>,
) -> Result<KevImport, ImportError> {
    let catalog = kev::parse(text, path)?;
    if let Some(newest) = newest.filter(|n| *n > catalog.version.as_str()) {
        return Err(ImportError {
            path: path.to_string(),
            pointer: "/catalogVersion".into(),
            reason: format!(
                "catalog {} is older than catalog {newest}, already imported: importing it would take back what the newer one lists",
                catalog.version
            ),
        });
    }
    let released = EventTime::parse_rfc3339(&catalog.released).map_err(|e| ImportError {
        path: path.to_string(),
        pointer: "/dateReleased".into(),
        reason: e,
    })?;
    let listed: BTreeSet<String> = listed.iter().map(|c| c.trim().to_ascii_uppercase()).collect();
    let mut events = Vec::new();
    let mut rejected: Vec<ImportError> = catalog.rejected.into_iter().map(ImportError::from).collect();
    let mut present = BTreeSet::new();
    for (i, e) in catalog.entries.iter().enumerate() {
        let cve = e.cve_id.to_ascii_uppercase();
        present.insert(cve.clone());
        if listed.contains(&cve) {
            continue;
        }
        match EventTime::parse_rfc3339(&format!("{}T00:00:00Z", e.date_added)) {
            Ok(at) => events.push(listing(e, &cve, at, &catalog.version, tenant)),
            Err(reason) => rejected.push(ImportError {
                path: path.to_string(),
                pointer: format!("/vulnerabilities/{i}/dateAdded"),
                reason,
            }),
        }
    }
    events.extend(removals(&listed, &present, released, &catalog.version, tenant));
    events.sort_by(|a, b| (a.envelope.event_time, &a.cve).cmp(&(b.envelope.event_time, &b.cve)));
    Ok(KevImport {
        version: catalog.version,
        released,
        listed: present,
        entries: catalog.entries.len(),
        events,
        rejected,
    })
}

/// The removals, at `released`, of the CVEs `listed` (upper case) that catalog `version`, listing
/// `present`, no longer has: what importing it takes back. What-if uses it too, with what the log
/// listed at the candidate catalog's release.
pub fn removals(
    listed: &BTreeSet<String>,
    present: &BTreeSet<String>,
    released: EventTime,
    version: &str,
    tenant: &str,
) -> Vec<KnownExploited> {
    listed.difference(present).map(|cve| removal(cve, released, version, tenant)).collect()
}

fn envelope(cve: &str, change: &str, at: EventTime, version: &str, tenant: &str) -> Envelope {
    Envelope {
        event_id: derive_event_id("kev", &[cve.as_bytes(), change.as_bytes(), version.as_bytes()]),
        tenant: tenant.into(),
        key: cve.into(),
        event_time: at,
        source: "import:cisa-kev".into(),
        schema_version: EventType::KnownExploited.schema_version(),
    }
}

fn listing(e: &KevEntry, cve: &str, at: EventTime, version: &str, tenant: &str) -> KnownExploited {
    KnownExploited {
        envelope: envelope(cve, "listed", at, version, tenant),
        change: CatalogChange::Listed,
        cve: cve.to_string(),
        catalog: CATALOG.into(),
        catalog_version: version.to_string(),
        date_added: e.date_added.clone(),
        due_date: e.due_date.clone(),
        vendor_project: e.vendor_project.clone(),
        product: e.product.clone(),
        vulnerability_name: e.vulnerability_name.clone(),
        short_description: e.short_description.clone(),
        required_action: e.required_action.clone(),
        known_ransomware_campaign_use: e.known_ransomware_campaign_use.clone(),
        notes: e.notes.clone(),
        cwes: e.cwes.clone(),
    }
}

fn removal(cve: &str, at: EventTime, version: &str, tenant: &str) -> KnownExploited {
    KnownExploited {
        envelope: envelope(cve, "removed", at, version, tenant),
        change: CatalogChange::Removed,
        cve: cve.to_string(),
        catalog: CATALOG.into(),
        catalog_version: version.to_string(),
        date_added: String::new(),
        due_date: None,
        vendor_project: None,
        product: None,
        vulnerability_name: None,
        short_description: None,
        required_action: None,
        known_ransomware_campaign_use: None,
        notes: None,
        cwes: Vec::new(),
    }
}

/// The newest catalog version `events` came from (versions are `YYYY.MM.DD`, ordered as text).
pub fn newest_version<'a>(events: impl IntoIterator<Item = &'a KnownExploited>) -> Option<String> {
    events.into_iter().map(|e| e.catalog_version.as_str()).max().map(str::to_string)
}

/// The CVEs listed after `events` (in log order) were applied.
pub fn listed_after<'a>(events: impl IntoIterator<Item = &'a KnownExploited>) -> BTreeSet<String> {
    let mut listed = BTreeSet::new();
    for e in events {
        let cve = e.cve.trim().to_ascii_uppercase();
        match e.change {
            CatalogChange::Listed => listed.insert(cve),
            CatalogChange::Removed => listed.remove(&cve),
        };
    }
    listed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(version: &str, entries: &[(&str, &str)]) -> String {
        let items: Vec<String> =
            entries.iter().map(|(cve, date)| format!(r#"{{"cveID": "{cve}", "dateAdded": "{date}"}}"#)).collect();
        format!(
            r#"{{"catalogVersion": "{version}", "dateReleased": "{version}T12:00:00.000Z", "count": {}, "vulnerabilities": [{}]}}"#,
            entries.len(),
            items.join(",")
        )
    }

    #[test]
    fn new_listings_in_date_order_and_removals_of_dropped_entries() {
        let first = catalog("2025-08-25", &[("CVE-2025-0002", "2025-08-25"), ("CVE-2021-4034", "2022-06-27")]);
        let a = import(&first, "kev.json", "acme", &BTreeSet::new(), None).expect("catalog");
        let order: Vec<(&str, CatalogChange)> = a.events.iter().map(|e| (e.cve.as_str(), e.change)).collect();
        assert_eq!(order, [("CVE-2021-4034", CatalogChange::Listed), ("CVE-2025-0002", CatalogChange::Listed)]);
        assert_eq!(a.events[0].envelope.event_time.to_rfc3339(), "2022-06-27T00:00:00.000000Z");
        let listed = listed_after(&a.events);

        // The same catalog again: nothing new.
        let newest = newest_version(&a.events);
        assert!(import(&first, "kev.json", "acme", &listed, newest.as_deref()).expect("again").events.is_empty());

        // A later catalog drops CVE-2025-0002 and adds one.
        let second = catalog("2025-09-01", &[("CVE-2021-4034", "2022-06-27"), ("CVE-2025-0003", "2025-09-01")]);
        let b = import(&second, "kev.json", "acme", &listed, newest.as_deref()).expect("catalog");
        // The older catalog after the newer one: refused, nothing taken back.
        let newer = newest_version(a.events.iter().chain(&b.events));
        let e = import(&first, "kev.json", "acme", &listed_after(a.events.iter().chain(&b.events)), newer.as_deref())
            .expect_err("older");
        assert_eq!(e.pointer, "/catalogVersion");
        assert!(e.reason.contains("older than catalog 2025-09-01"), "{e}");
        let order: Vec<(&str, CatalogChange)> = b.events.iter().map(|e| (e.cve.as_str(), e.change)).collect();
        // In event time: the new entry's date (midnight) before the catalog's release time.
        assert_eq!(order, [("CVE-2025-0003", CatalogChange::Listed), ("CVE-2025-0002", CatalogChange::Removed)]);
        assert_eq!(b.events[1].envelope.event_time.to_rfc3339(), "2025-09-01T12:00:00.000000Z");
        let after = listed_after(a.events.iter().chain(&b.events));
        assert_eq!(after.into_iter().collect::<Vec<_>>(), ["CVE-2021-4034", "CVE-2025-0003"]);
    }

    #[test]
    fn a_bad_entry_is_rejected_with_its_pointer_and_the_rest_imported() {
        let text = catalog("2025-08-25", &[("CVE-2021-4034", "2022-06-27"), ("CVE-X", "2022-06-27")]);
        let a = import(&text, "kev.json", "acme", &BTreeSet::new(), None).expect("catalog");
        assert_eq!(a.events.len(), 1);
        assert_eq!(a.rejected.len(), 1);
        assert_eq!(a.rejected[0].pointer, "/vulnerabilities/1/cveID");
        let e = import(&text[..text.len() - 20], "kev.json", "acme", &BTreeSet::new(), None).expect_err("truncated");
        assert!(e.pointer.starts_with("line 1:"), "{e}");
    }
}
