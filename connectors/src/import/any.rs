//! Any feed document trustloop imports, its kind told by name and content: for commands that take
//! feed files without being told what they are (`trustloop replay --with`).
//!
//! * By name: `.csv` and `.csv.gz` are FIRST's EPSS scores ([`epss`]; the score date is the file's
//!   own, else the one an `epss_scores-YYYY-MM-DD` name gives); `.jsonl` and `.jsonl.gz` an OSV
//!   history stream ([`osv_history`]); `.yaml` and `.yml` an OSV advisory ([`osv`]).
//! * `.json` by content: a CISA KEV catalog (it has `catalogVersion`), a CSAF 2.0 advisory
//!   ([`csaf_advisory::is_advisory`]), a VEX document ([`vex::detect`]: OpenVEX, CSAF VEX, CycloneDX
//!   VEX), else an OSV advisory. JSON that does not parse is told by the same markers, so a truncated
//!   catalog is reported as a catalog, with its line and column.
//!
//! **Strict.** Where `import` rejects a bad item to `dlq` and imports the rest, here a document with
//! any bad part — a catalog entry, an EPSS line, a CSAF vulnerability or product tree, a history
//! line — is an error, every problem with its place (JSON pointer, or line), and so is a file named
//! that is none of these kinds: a caller must not run on part of what it was given. Directories are
//! walked in name order; the files in them whose names say they are none of these kinds (a
//! `LICENSE`, a `README.md`) are listed in [`Documents::skipped`], not read.
//!
//! A KEV catalog is read as its listings only: one `listed` event per entry at its `dateAdded`, as
//! [`kev::import`] gives them for a log that lists nothing yet (what a log lists already is not
//! consulted, and nothing is taken back). Event ids derive from the content, as the importers derive
//! them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use trustloop_schemas::{Event, EventTime};

use super::{ImportError, csaf_advisory, epss, kev, osv, osv_history, vex};

/// What kind of document a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// CISA's Known Exploited Vulnerabilities catalog.
    Kev,
    /// FIRST's daily EPSS scores.
    Epss,
    /// An OSV advisory (JSON or YAML).
    Osv,
    /// An OSV history stream (JSON lines).
    OsvHistory,
    /// A CSAF 2.0 advisory.
    Csaf,
    /// A VEX document.
    Vex,
}

impl Kind {
    /// Its name, as `--json` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Kev => "kev",
            Kind::Epss => "epss",
            Kind::Osv => "osv",
            Kind::OsvHistory => "osv-history",
            Kind::Csaf => "csaf",
            Kind::Vex => "vex",
        }
    }
}

/// One document read.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Its path.
    pub path: String,
    /// What it is.
    pub kind: Kind,
    /// Its events, in the order its importer gives them.
    pub events: Vec<Event>,
    /// CSAF products left out of `affected` (not placed in an OSV ecosystem with a version).
    pub unresolved_products: usize,
    /// For a KEV catalog: its version, release time and the CVEs it lists. Its events list every
    /// entry and take nothing back; what it takes back depends on what a log lists at its
    /// release ([`super::kev::removals`]).
    pub catalog: Option<Catalog>,
}

/// What a KEV catalog says of itself (see [`Document::catalog`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    /// `catalogVersion`.
    pub version: String,
    /// `dateReleased`.
    pub released: EventTime,
    /// The CVEs it lists, upper case.
    pub listed: BTreeSet<String>,
}

/// Every document under some paths.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Documents {
    /// The documents, paths in the order given, directories walked in name order.
    pub documents: Vec<Document>,
    /// Files found in directories whose names say they are no feed document (not read).
    pub skipped: Vec<String>,
}

/// Why documents could not be read: every problem, each with its file and place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct Problems(pub Vec<ImportError>);

/// Reads every document under `paths` for `tenant` (see the module docs); all problems of all files
/// are reported together.
pub fn read_paths(paths: &[PathBuf], tenant: &str) -> Result<Documents, Problems> {
    let mut out = Documents::default();
    let mut problems = Vec::new();
    for p in paths {
        let named = p.display().to_string();
        if p.is_dir() {
            let mut files = Vec::new();
            if let Err(e) = super::walk(p, &mut files) {
                problems.push(error(&named, format!("cannot read the directory: {e}")));
                continue;
            }
            for f in files {
                if kind_by_name(&f).is_none() && !is_json(&f) {
                    out.skipped.push(f.display().to_string());
                    continue;
                }
                match read_file(&f, tenant) {
                    Ok(d) => out.documents.push(d),
                    Err(mut e) => problems.append(&mut e),
                }
            }
        } else if !p.exists() {
            problems.push(error(&named, "no such file or directory".into()));
        } else {
            match read_file(p, tenant) {
                Ok(d) => out.documents.push(d),
                Err(mut e) => problems.append(&mut e),
            }
        }
    }
    match problems.is_empty() {
        true => Ok(out),
        false => Err(Problems(problems)),
    }
}

/// Reads one document (see the module docs): its events, or every problem found in it.
pub fn read_file(path: &Path, tenant: &str) -> Result<Document, Vec<ImportError>> {
    let name = path.display().to_string();
    let document =
        |kind, events: Vec<Event>| Document { path: name.clone(), kind, events, unresolved_products: 0, catalog: None };
    match kind_by_name(path) {
        Some(Kind::Epss) => {
            let day = epss::read_file(path, tenant, date_in_name(path).as_deref()).map_err(|e| vec![e])?;
            strict(day.rejected)?;
            return Ok(document(Kind::Epss, day.events.into_iter().map(Event::EpssScores).collect()));
        }
        Some(Kind::OsvHistory) => {
            let (events, problems): (Vec<_>, Vec<_>) =
                osv_history::read(path, tenant).map_err(|e| vec![e])?.into_iter().partition(Result::is_ok);
            strict(problems.into_iter().filter_map(Result::err).collect())?;
            let events = events.into_iter().filter_map(Result::ok).map(Event::Advisory).collect();
            return Ok(document(Kind::OsvHistory, events));
        }
        Some(_) => {
            let advisory = osv::parse_file(path, tenant).map_err(|e| vec![e])?;
            return Ok(document(Kind::Osv, vec![Event::Advisory(advisory)]));
        }
        None => {}
    }
    if !is_json(path) {
        return Err(vec![error(
            &name,
            "not a feed document trustloop reads (a KEV catalog, a CSAF advisory, a VEX or OSV document: .json; \
             OSV: .yaml, .yml, .jsonl[.gz]; EPSS scores: .csv[.gz])"
                .into(),
        )]);
    }
    let bytes = std::fs::read(path).map_err(|e| vec![error(&name, e.to_string())])?;
    if is_kev(&bytes) {
        let text = String::from_utf8(bytes).map_err(|e| vec![error(&name, format!("not UTF-8 text: {e}"))])?;
        let catalog = kev::import(&text, &name, tenant, &BTreeSet::new(), None).map_err(|e| vec![e])?;
        strict(catalog.rejected)?;
        let mut d = document(Kind::Kev, catalog.events.into_iter().map(Event::KnownExploited).collect());
        d.catalog = Some(Catalog { version: catalog.version, released: catalog.released, listed: catalog.listed });
        return Ok(d);
    }
    if csaf_advisory::is_advisory(&bytes) {
        let doc = csaf_advisory::parse(&bytes, &name, tenant).map_err(|e| vec![e])?;
        strict(doc.rejected)?;
        let mut d = document(Kind::Csaf, doc.advisories.into_iter().map(Event::Advisory).collect());
        d.unresolved_products = doc.unresolved.len();
        return Ok(d);
    }
    if let Some(format) = vex::detect(&bytes) {
        let statements = vex::parse(&bytes, format, &name, tenant).map_err(|e| vec![e])?;
        return Ok(document(Kind::Vex, statements.into_iter().map(Event::VexStatement).collect()));
    }
    let text = String::from_utf8(bytes).map_err(|e| vec![error(&name, format!("not UTF-8 text: {e}"))])?;
    let advisory = osv::parse(&text, osv::Format::Json, &name, tenant).map_err(|e| vec![e])?;
    Ok(document(Kind::Osv, vec![Event::Advisory(advisory)]))
}

/// The kind a file's name says, for the kinds told by name (`.json` is told by content).
fn kind_by_name(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    if name.ends_with(".csv") || name.ends_with(".csv.gz") {
        Some(Kind::Epss)
    } else if name.ends_with(".jsonl") || name.ends_with(".jsonl.gz") {
        Some(Kind::OsvHistory)
    } else if name.ends_with(".yaml") || name.ends_with(".yml") {
        Some(Kind::Osv)
    } else {
        None
    }
}

fn is_json(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// Whether a JSON document is a KEV catalog: an object with `catalogVersion` (text that does not
/// parse: one that names it).
fn is_kev(bytes: &[u8]) -> bool {
    match serde_json::from_slice::<serde_json::Value>(vex::strip_bom(bytes)) {
        Ok(v) => v.get("catalogVersion").is_some(),
        Err(_) => String::from_utf8_lossy(bytes).contains("\"catalogVersion\""),
    }
}

/// The date of an `epss_scores-YYYY-MM-DD.csv[.gz]` name.
fn date_in_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let date = name.strip_prefix("epss_scores-")?.get(..10)?;
    let digits = |r: std::ops::Range<usize>| date.get(r).is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()));
    let dashes = date.as_bytes().get(4) == Some(&b'-') && date.as_bytes().get(7) == Some(&b'-');
    (dashes && digits(0..4) && digits(5..7) && digits(8..10)).then(|| date.to_string())
}

/// `Ok` if nothing was rejected.
fn strict(rejected: Vec<ImportError>) -> Result<(), Vec<ImportError>> {
    match rejected.is_empty() {
        true => Ok(()),
        false => Err(rejected),
    }
}

fn error(path: &str, reason: String) -> ImportError {
    ImportError { path: path.to_string(), pointer: String::new(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = r#"{"title": "CISA Catalog", "catalogVersion": "2026.04.02",
      "dateReleased": "2026-04-02T10:00:00.000Z", "count": 2, "vulnerabilities": [
        {"cveID": "CVE-2026-99101", "dateAdded": "2026-04-01", "dueDate": "2026-04-22", "cwes": []},
        {"cveID": "CVE-2021-4034", "dateAdded": "2022-06-27", "cwes": []}]}"#;

    const ADVISORY: &str = r#"{"id": "TEST-2026-0101", "modified": "2026-01-01T00:00:00Z",
      "aliases": ["CVE-2026-99101"], "affected": [{"package": {"ecosystem": "npm", "name": "lodash"},
      "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "4.17.21"}]}]}]}"#;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn kinds_are_told_by_name_and_content_and_events_are_the_importers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir(d.join("osv")).expect("mkdir");
        write(&d.join("osv"), "TEST-2026-0101.json", ADVISORY);
        write(&d.join("osv"), "LICENSE", "not a feed");
        let kev = write(d, "known_exploited_vulnerabilities.json", CATALOG);
        let epss = write(
            d,
            "epss_scores-2026-04-02.csv",
            "#model_version:v2025.03.14,score_date:2026-04-02T00:00:00Z\ncve,epss,percentile\nCVE-2026-99101,0.97,0.999\n",
        );
        let undated = write(d, "epss_scores-2026-04-03.csv", "cve,epss,percentile\nCVE-2026-99101,0.5,0.9\n");
        let read = read_paths(&[kev, d.join("osv"), epss, undated], "acme").expect("read");
        let kinds: Vec<(Kind, usize)> = read.documents.iter().map(|d| (d.kind, d.events.len())).collect();
        assert_eq!(kinds, [(Kind::Kev, 2), (Kind::Osv, 1), (Kind::Epss, 1), (Kind::Epss, 1)]);
        assert_eq!(read.skipped, [d.join("osv").join("LICENSE").display().to_string()]);
        // Listings at their dateAdded, in event-time order, ids as `import kev` derives them.
        let Event::KnownExploited(first) = &read.documents[0].events[0] else { panic!("a listing") };
        assert_eq!(
            (first.cve.as_str(), first.envelope.event_time.to_rfc3339().as_str()),
            ("CVE-2021-4034", "2022-06-27T00:00:00.000000Z")
        );
        let imported = kev::import(CATALOG, &read.documents[0].path, "acme", &BTreeSet::new(), None).expect("import");
        assert_eq!(
            read.documents[0].events,
            imported.events.into_iter().map(Event::KnownExploited).collect::<Vec<_>>()
        );
        // The undated file takes its name's date.
        let Event::EpssScores(e) = &read.documents[3].events[0] else { panic!("scores") };
        assert_eq!(e.score_date, "2026-04-03");
        // The same files read again give the same events.
        let again = read_paths(&[d.join("known_exploited_vulnerabilities.json")], "acme").expect("read");
        assert_eq!(again.documents[0], read.documents[0]);
    }

    #[test]
    fn a_bad_part_fails_the_document_with_its_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let truncated = write(d, "kev.json", &CATALOG[..CATALOG.len() / 2]);
        let bad_entry = write(d, "kev-bad.json", &CATALOG.replace("\"2026-04-01\"", "\"April\""));
        let bad_line = write(
            d,
            "epss.csv",
            "#model_version:v1,score_date:2026-04-02T00:00:00Z\ncve,epss,percentile\nCVE-2026-1001,0.1,0.2\nCVE-2026-1002,2.5,0.1\n",
        );
        let other = write(d, "notes.txt", "hello");
        let Problems(problems) =
            read_paths(&[truncated, bad_entry, bad_line, other, d.join("missing.json")], "acme").expect_err("bad");
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 5, "{lines:#?}");
        assert!(lines[0].starts_with(&format!("{} at line 3:", d.join("kev.json").display())), "{lines:#?}");
        assert!(lines[1].contains("kev-bad.json at /vulnerabilities/0/dateAdded"), "{lines:#?}");
        assert!(lines[2].contains("epss.csv at line 4: epss of CVE-2026-1002 is `2.5`"), "{lines:#?}");
        assert!(lines[3].contains("notes.txt: not a feed document"), "{lines:#?}");
        assert!(lines[4].contains("missing.json: no such file or directory"), "{lines:#?}");
    }

    #[test]
    fn an_epss_name_date_must_be_a_date() {
        assert_eq!(date_in_name(Path::new("x/epss_scores-2026-12-06.csv.gz")).as_deref(), Some("2026-12-06"));
        assert_eq!(date_in_name(Path::new("epss_scores-current.csv")), None);
        assert_eq!(date_in_name(Path::new("scores-2026-12-06.csv")), None);
    }
}
