//! FIRST's daily EPSS scores (CSV, or gzip-compressed CSV as FIRST publishes it) into
//! `EpssScores` events.
//!
//! A day's scores become events of at most [`PART`] scores each (part `i` of `n`), at event time
//! the file's `score_date` (a date alone is midnight UTC), keyed `epss:DATE#PART`. Files without
//! the `#model_version:…,score_date:…` line (EPSS's first model) need the date from the caller.
//! A malformed line is one rejected item with its line number; the rest is imported. Event ids
//! derive from the date, the part and the scores, so importing the same file twice gives the same
//! events.

use std::io::Read;
use std::path::Path;

use trustloop_formats::intel::epss;
use trustloop_schemas::{Envelope, EpssScore, EpssScores, EventTime, EventType, derive_event_id};

use super::ImportError;

/// Most scores in one event.
pub const PART: usize = 10_000;

/// What one scores file gives.
#[derive(Debug, Clone, PartialEq)]
pub struct EpssImport {
    /// The model version, if the file states it.
    pub model_version: Option<String>,
    /// The score date used.
    pub score_date: String,
    /// Scores read.
    pub scores: usize,
    /// The events, in part order.
    pub events: Vec<EpssScores>,
    /// Lines not imported, each with its line number.
    pub rejected: Vec<ImportError>,
}

/// Reads a scores file: gzip-compressed if its name ends in `.gz`.
pub fn read_file(path: &Path, tenant: &str, date: Option<&str>) -> Result<EpssImport, ImportError> {
    let name = path.display().to_string();
    let fail = |reason: String| ImportError { path: name.clone(), pointer: String::new(), reason };
    let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let text = if name.ends_with(".gz") {
        let mut out = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut out)
            .map_err(|e| fail(format!("not a gzip-compressed text file: {e}")))?;
        out
    } else {
        String::from_utf8(bytes).map_err(|e| fail(format!("not UTF-8 text: {e}")))?
    };
    import(&text, &name, tenant, date)
}

/// Reads scores `text` (named `path` in errors) for `tenant`; `date` is used when the file states
/// none (and must agree with it when it does).
pub fn import(text: &str, path: &str, tenant: &str, date: Option<&str>) -> Result<EpssImport, ImportError> {
    let file = epss::parse(text, path)?;
    let fail = |reason: String| ImportError { path: path.to_string(), pointer: String::new(), reason };
    let score_date = match (file.score_date.as_deref(), date) {
        (Some(d), Some(given)) if !d.starts_with(given) => {
            return Err(fail(format!("the file's score_date is {d}, not {given}")));
        }
        (Some(d), _) => d.to_string(),
        (None, Some(given)) => given.to_string(),
        (None, None) => {
            return Err(fail(
                "the file states no score_date (no `#model_version:…,score_date:…` line): give --date".into(),
            ));
        }
    };
    let at = if score_date.len() == 10 {
        EventTime::parse_rfc3339(&format!("{score_date}T00:00:00Z"))
    } else {
        EventTime::parse_rfc3339(&score_date)
    }
    .map_err(|e| fail(format!("score_date: {e}")))?;
    let parts = file.rows.len().div_ceil(PART).max(1);
    let mut events = Vec::with_capacity(parts);
    for (i, chunk) in file.rows.chunks(PART).enumerate() {
        let scores: Vec<EpssScore> = chunk
            .iter()
            .map(|r| EpssScore { cve: r.cve.to_ascii_uppercase(), epss: r.epss, percentile: r.percentile })
            .collect();
        let mut digest = Vec::with_capacity(scores.len() * 24);
        for s in &scores {
            digest.extend_from_slice(s.cve.as_bytes());
            digest.extend_from_slice(&s.epss.to_bits().to_le_bytes());
            digest.extend_from_slice(&s.percentile.to_bits().to_le_bytes());
        }
        let part = i32::try_from(i).unwrap_or(i32::MAX);
        events.push(EpssScores {
            envelope: Envelope {
                event_id: derive_event_id("epss", &[score_date.as_bytes(), &part.to_le_bytes(), &digest]),
                tenant: tenant.into(),
                key: format!("epss:{}#{part}", &score_date[..score_date.len().min(10)]).into(),
                event_time: at,
                source: "import:first-epss".into(),
                schema_version: EventType::EpssScores.schema_version(),
            },
            model_version: file.model_version.clone(),
            score_date: score_date.clone(),
            part,
            parts: i32::try_from(parts).unwrap_or(i32::MAX),
            scores,
        });
    }
    Ok(EpssImport {
        model_version: file.model_version,
        score_date,
        scores: file.rows.len(),
        events,
        rejected: file.rejected.into_iter().map(ImportError::from).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_split_into_parts_at_the_score_date() {
        let mut text =
            String::from("#model_version:v2025.03.14,score_date:2025-08-25T00:00:00Z\ncve,epss,percentile\n");
        for i in 0..(PART + 5) {
            text.push_str(&format!("CVE-2020-{:05},0.{:05},0.5\n", i + 10_000, i % 100_000));
        }
        text.push_str("CVE-2020-1,bad,0.1\n");
        let a = import(&text, "e.csv", "acme", None).expect("file");
        assert_eq!((a.scores, a.events.len()), (PART + 5, 2));
        assert_eq!((a.events[0].part, a.events[0].parts, a.events[1].scores.len()), (0, 2, 5));
        assert_eq!(a.events[1].envelope.event_time.to_rfc3339(), "2025-08-25T00:00:00.000000Z");
        assert_eq!(a.rejected.len(), 1);
        assert_eq!(a.rejected[0].pointer, format!("line {}", PART + 8));
        let again = import(&text, "e.csv", "acme", None).expect("file");
        assert_eq!(again.events, a.events, "deterministic");
    }

    #[test]
    fn a_file_without_a_date_needs_one() {
        let text = "cve,epss,percentile\nCVE-2021-4034,0.5,0.9\n";
        let e = import(text, "e.csv", "acme", None).expect_err("no date");
        assert!(e.reason.contains("--date"), "{e}");
        let a = import(text, "e.csv", "acme", Some("2022-01-01")).expect("dated");
        assert_eq!(a.events[0].envelope.event_time.to_rfc3339(), "2022-01-01T00:00:00.000000Z");
        let dated = "#model_version:v1,score_date:2025-08-25T00:00:00Z\ncve,epss,percentile\n";
        assert!(import(dated, "e.csv", "acme", Some("2025-08-24")).is_err(), "dates disagree");
    }

    #[test]
    fn gzip_files_are_read() {
        use std::io::Write;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("epss_scores-2025-08-25.csv.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(
            b"#model_version:v1,score_date:2025-08-25T00:00:00Z\ncve,epss,percentile\nCVE-2021-4034,0.5,0.9\n",
        )
        .expect("gz");
        std::fs::write(&path, gz.finish().expect("gz")).expect("write");
        let a = read_file(&path, "acme", None).expect("gz file");
        assert_eq!(a.scores, 1);
        std::fs::write(&path, b"not gzip").expect("write");
        assert!(read_file(&path, "acme", None).is_err());
    }
}
