//! Black-box tests of what-if with candidate feeds (`trustloop replay --policy P --with FILE`): a
//! release promoted while its vulnerability was neither known to be exploited nor likely to be is
//! re-decided with a KEV catalog or an EPSS file the log does not hold, merged at the feed's own
//! event time (or moved by `--shift`). A feed dated before the promotion flips the promotion's
//! verdict; one dated after leaves it and re-decides the release at the feed's date. The verdicts
//! expected are worked out from the fixture's dates and scores, not copied from the output. A bad
//! candidate file fails the command with its place, before anything is re-run, and nothing is ever
//! written to the log.

use std::path::{Path, PathBuf};

use serde_json::Value;

mod support;
use support::*;

const CVE: &str = "CVE-2026-99101";

const ADVISORY: &str = r#"{"id":"TEST-2099-0101","modified":"2099-01-01T00:00:00Z","aliases":["CVE-2026-99101"],
  "affected":[{"package":{"ecosystem":"npm","name":"lodash"},
               "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"4.17.21"}]}]}]}"#;

const PACKAGE_LOCK: &str = r#"{"name": "web", "version": "1.0.0", "lockfileVersion": 3, "requires": true,
  "packages": {"": {"name": "web", "version": "1.0.0", "dependencies": {"lodash": "^4.17.0"}},
               "node_modules/lodash": {"version": "4.17.20"}}}"#;

/// When the release's promotion happened (its event time): after the advisory, long after the
/// inventory (stamped with the time of its import).
const PROMOTED: &str = "2099-03-01";

const SUBJECT: &str = "shop@1.0.0@staging";

/// The candidate policy: fail what is known exploited, or likely to be (EPSS at least 0.5).
const POLICY: &str = "api_version: trustloop/v1
name: what-if-feeds
release_gates:
  rules:
    - id: known-exploited
      when: {known_exploited: true}
      outcome: fail
    - id: likely-exploited
      when: {min_epss: 0.5}
      outcome: fail
";

/// The EPSS threshold of [`POLICY`].
const MIN_EPSS: f64 = 0.5;

fn catalog(date_added: &str) -> String {
    format!(
        r#"{{"title": "CISA Catalog", "catalogVersion": "2099.05.01", "dateReleased": "2099-05-01T10:00:00.000Z",
            "count": 1, "vulnerabilities": [{{"cveID": "{CVE}", "vendorProject": "lodash", "product": "lodash",
            "vulnerabilityName": "test", "dateAdded": "{date_added}", "dueDate": "2099-06-01",
            "knownRansomwareCampaignUse": "Unknown", "cwes": []}}]}}"#
    )
}

fn epss(date: &str, score: f64) -> String {
    format!("#model_version:v2025.03.14,score_date:{date}T00:00:00Z\ncve,epss,percentile\n{CVE},{score},0.999\n")
}

/// An event time as trustloop prints it, of a day at midnight UTC.
fn midnight(date: &str) -> String {
    format!("{date}T00:00:00.000000Z")
}

/// The release's verdicts expected when a feed that makes it fail takes effect at `effective` (a
/// day): FAIL at the promotion if that is at or before it, else PASS then and FAIL at `effective`.
fn expected(effective: &str) -> Vec<(String, &'static str)> {
    if effective <= PROMOTED {
        vec![(midnight(PROMOTED), "FAIL")]
    } else {
        vec![(midnight(PROMOTED), "PASS"), (midnight(effective), "FAIL")]
    }
}

struct Setup {
    data: tempfile::TempDir,
    files: tempfile::TempDir,
}

impl Setup {
    fn d(&self) -> &Path {
        self.data.path()
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p: PathBuf = self.files.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.display().to_string()
    }

    /// `replay --policy P ARGS… --json`: the report.
    fn what_if(&self, args: &[&str]) -> Value {
        let policy = self.file("policy.yaml", POLICY);
        let mut all = vec!["replay", "--policy", policy.as_str()];
        all.extend_from_slice(args);
        all.push("--json");
        serde_json::from_str(&ok(&trustloop(self.d(), &all))).expect("JSON report")
    }
}

/// A log with the advisory, the release's inventory and its promotion, run: PASS under the default
/// policy (the advisory has no severity and nothing says it is exploited).
fn recorded() -> Setup {
    let s = logged(|_| {});
    let verdicts: Vec<Value> = consume(s.d(), "verdicts").into_iter().filter(|v| v["subject"] == SUBJECT).collect();
    let outcomes: Vec<(&str, &str)> = verdicts
        .iter()
        .map(|v| (v["event_time"].as_str().unwrap_or(""), v["outcome"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(outcomes, [(midnight(PROMOTED).as_str(), "PASS")], "{verdicts:#?}");
    s
}

/// A log with the advisory and the release's inventory, then what `before_promotion` adds, then
/// the release's promotion; run.
fn logged(before_promotion: impl FnOnce(&Setup)) -> Setup {
    let s = Setup { data: tempfile::tempdir().expect("tempdir"), files: tempfile::tempdir().expect("tempdir") };
    ok(&trustloop(s.d(), &["import", "osv", &s.file("advisory.json", ADVISORY)]));
    std::fs::create_dir_all(s.files.path().join("web")).expect("mkdir");
    ok(&trustloop(
        s.d(),
        &["import", "lockfile", &s.file("web/package-lock.json", PACKAGE_LOCK), "--release", "shop@1.0.0"],
    ));
    before_promotion(&s);
    let promotion = format!(
        r#"{{"release_name": "shop", "release_version": "1.0.0", "from_environment": "dev", "to_environment": "staging",
            "requested_by": "ci", "event_time": "{PROMOTED}T00:00:00Z"}}"#
    );
    ok(&trustloop_with_stdin(
        s.d(),
        &["produce", "--topic", "promotions", "--tenant", "default"],
        &format!("{}\n", promotion.replace('\n', " ")),
    ));
    ok(&trustloop(s.d(), &["run", "--until-idle"]));
    s
}

/// The release's verdicts under the candidate (time, outcome), or `None` if they do not differ from
/// the recorded ones; and the report's entry.
fn release(report: &Value) -> Option<(Vec<(String, String)>, Value)> {
    let d = report["differ"].as_array().expect("differ").iter().find(|d| d["subject"] == SUBJECT)?;
    let steps = d["candidate"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| (s["at"].as_str().unwrap_or("").to_string(), s["outcome"].as_str().unwrap_or("").to_string()))
        .collect();
    Some((steps, d.clone()))
}

fn owned(v: Vec<(String, &str)>) -> Vec<(String, String)> {
    v.into_iter().map(|(a, b)| (a, b.to_string())).collect()
}

/// Shifts a day by whole days (the fixture's dates are in 2099, far from leap-year edge cases: a
/// plain day count through the months is enough).
fn day_plus(date: &str, days: i64) -> String {
    let (y, m, d) = (&date[..4], &date[5..7], &date[8..10]);
    let (y, mut m, mut d): (i64, i64, i64) = (y.parse().expect("y"), m.parse().expect("m"), d.parse().expect("d"));
    let len = |m: i64| [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][(m - 1) as usize];
    d += days;
    while d < 1 {
        m -= 1;
        d += len(m);
    }
    while d > len(m) {
        d -= len(m);
        m += 1;
    }
    format!("{y:04}-{m:02}-{d:02}")
}

#[test]
fn a_catalog_dated_before_the_promotion_fails_it_and_one_dated_after_re_decides_the_release_at_its_date() {
    let s = recorded();
    let verdicts_before = consume(s.d(), "verdicts").len();

    // The candidate policy alone changes nothing: the release's CVE is in no catalog and unscored.
    let report = s.what_if(&[]);
    assert_eq!(report["differ"].as_array().map(Vec::len), Some(0), "{report:#}");
    assert!(report["findings"].as_u64().unwrap_or(0) >= 1, "findings are re-derived: {report:#}");

    // Listed a month before the promotion: the promotion fails.
    let early = "2099-02-01";
    let kev = s.file("kev-early.json", &catalog(early));
    let report = s.what_if(&["--with", &kev]);
    let (steps, entry) = release(&report).expect("the release differs");
    assert_eq!(steps, owned(expected(early)), "{entry:#}");
    let fail = &entry["candidate"][0];
    assert_eq!(fail["cause_kind"], "promotion", "derived from the promotion request: {fail:#}");
    let named = fail["candidates"].to_string();
    assert!(named.contains(&format!("{CVE} listed by cisa-kev")) && named.contains("kev-early.json"), "{fail:#}");
    assert!(fail["reason"].as_str().unwrap_or("").contains("rule `known-exploited`"), "{fail:#}");
    assert_eq!(entry["recorded"][0]["outcome"], "PASS");
    // It came just before the promotion request (the first input past its date).
    let merged = &report["candidates"][0];
    assert_eq!(merged["before"][0], "promotions", "{merged:#}");

    // Listed a month after: the promotion passes as recorded; the release fails at the listing.
    let late = "2099-04-01";
    let kev_late = s.file("kev-late.json", &catalog(late));
    let report = s.what_if(&["--with", &kev_late]);
    let (steps, entry) = release(&report).expect("the release is re-decided");
    assert_eq!(steps, owned(expected(late)), "{entry:#}");
    let flip = &entry["candidate"][1];
    assert_eq!(flip["cause_kind"], "known-exploited", "{flip:#}");
    assert!(flip["candidates"].to_string().contains("kev-late.json"), "{flip:#}");
    assert!(report["candidates"][0]["before"].is_null(), "after every recorded input: {report:#}");

    // The same catalog had it arrived 60 days earlier: before the promotion again.
    let report = s.what_if(&["--with", &kev_late, "--shift", "-60d"]);
    let (steps, entry) = release(&report).expect("the release differs");
    assert_eq!(steps, owned(expected(&day_plus(late, -60))), "{entry:#}");
    assert!(entry["candidate"][0]["candidates"].to_string().contains("(moved -60d)"), "{entry:#}");
    // And 60 days later than the early one: after the promotion.
    let report = s.what_if(&["--with", &kev, "--shift=+60d"]);
    let (steps, _) = release(&report).expect("the release is re-decided");
    assert_eq!(steps, owned(expected(&day_plus(early, 60))));

    // Byte for byte the same output, text and JSON, run after run; nothing written to the log.
    let policy = s.file("policy.yaml", POLICY);
    let args = ["replay", "--policy", policy.as_str(), "--with", kev.as_str()];
    let text = ok(&trustloop(s.d(), &args));
    assert_eq!(text, ok(&trustloop(s.d(), &args)));
    assert!(text.contains("1 would differ") && text.contains("candidate input: "), "{text}");
    let json = ok(&trustloop(s.d(), &[&args[..], &["--json"]].concat()));
    assert_eq!(json, ok(&trustloop(s.d(), &[&args[..], &["--json"]].concat())));
    assert_eq!(consume(s.d(), "verdicts").len(), verdicts_before, "a what-if writes nothing");
    assert!(consume(s.d(), "known-exploited").is_empty(), "a what-if writes nothing");
}

/// A catalog of `version`, released at `released` (a day), listing `cve` since `added`.
fn catalog_of(version: &str, released: &str, cve: &str, added: &str) -> String {
    format!(
        r#"{{"title": "CISA Catalog", "catalogVersion": "{version}", "dateReleased": "{released}T10:00:00.000Z",
            "count": 1, "vulnerabilities": [{{"cveID": "{cve}", "vendorProject": "lodash", "product": "lodash",
            "vulnerabilityName": "test", "dateAdded": "{added}", "dueDate": "2099-06-01",
            "knownRansomwareCampaignUse": "Unknown", "cwes": []}}]}}"#
    )
}

#[test]
fn a_candidate_catalog_takes_back_at_its_release_what_the_log_lists_then_and_it_does_not() {
    // The log: the release's CVE listed (2099-01-15, a catalog released 2099-01-20) before the
    // promotion, so the promotion fails under the default policy's known-exploited rule.
    let s = logged(|s| {
        let listed = s.file("kev-log.json", &catalog_of("2099.01.20", "2099-01-20", CVE, "2099-01-15"));
        ok(&trustloop(s.d(), &["import", "kev", &listed]));
    });
    let recorded: Vec<Value> = consume(s.d(), "verdicts").into_iter().filter(|v| v["subject"] == SUBJECT).collect();
    assert_eq!(recorded.len(), 1, "{recorded:#?}");
    assert_eq!(recorded[0]["outcome"], "FAIL", "{recorded:#?}");

    // A later catalog that no longer lists it (it lists another CVE), released before the
    // promotion: the listing is taken back at its release, and the promotion passes.
    let other = "CVE-2026-99999";
    let dropped = s.file("kev-dropped.json", &catalog_of("2099.02.01", "2099-02-01", other, "2099-01-30"));
    let report = s.what_if(&["--with", &dropped]);
    let (steps, entry) = release(&report).expect("the release differs");
    assert_eq!(steps, owned(vec![(midnight(PROMOTED), "PASS")]), "{entry:#}");
    let merged = report["candidates"].to_string();
    assert!(merged.contains(&format!("{CVE} removed by cisa-kev")), "the take-back is a candidate input: {report:#}");
    // Released after the promotion (moved 60 days later), the promotion fails as recorded and the
    // release passes from the catalog's release on.
    let report = s.what_if(&["--with", &dropped, "--shift", "+60d"]);
    let (steps, entry) = release(&report).expect("the release is re-decided");
    let released = day_plus("2099-02-01", 60);
    assert_eq!(steps.first().map(|s| s.1.as_str()), Some("FAIL"), "{entry:#}");
    assert_eq!(steps.last().map(|s| s.1.as_str()), Some("PASS"), "{entry:#}");
    assert!(steps.last().is_some_and(|s| s.0.starts_with(&released)), "{entry:#}");
    // A catalog that still lists it takes nothing back.
    let kept = s.file("kev-kept.json", &catalog_of("2099.02.01", "2099-02-01", CVE, "2099-01-15"));
    let report = s.what_if(&["--with", &kept]);
    assert!(release(&report).is_none(), "{report:#}");
    assert!(!report["candidates"].to_string().contains("removed"), "{report:#}");
}

#[test]
fn epss_scores_dated_before_the_promotion_fail_it_above_the_threshold_only() {
    let s = recorded();
    for (date, score) in [("2099-02-01", 0.97), ("2099-04-01", 0.97), ("2099-02-01", 0.01)] {
        let file = s.file(&format!("epss_scores-{date}.csv"), &epss(date, score));
        let report = s.what_if(&["--with", &file]);
        match release(&report) {
            _ if score < MIN_EPSS => {
                assert_eq!(report["differ"].as_array().map(Vec::len), Some(0), "{score} is below: {report:#}")
            }
            Some((steps, entry)) => {
                assert_eq!(steps, owned(expected(date)), "{date} {score}: {entry:#}");
                let last = entry["candidate"].as_array().and_then(|a| a.last()).expect("a verdict");
                let named = last["candidates"].to_string();
                assert!(named.contains(&format!("EPSS scores of {date}")), "{last:#}");
                if date > PROMOTED {
                    assert_eq!(last["cause_kind"], "epss", "{last:#}");
                }
            }
            None => panic!("{date} {score}: the release should differ: {report:#}"),
        }
    }
}

#[test]
fn a_bad_candidate_file_fails_the_command_with_its_place_before_anything_runs() {
    let s = recorded();
    let policy = s.file("policy.yaml", POLICY);
    let good = catalog("2099-02-01");
    let truncated = s.file("kev-truncated.json", &good[..good.len() / 2]);
    let bad_line =
        s.file("epss_scores-2099-02-01.csv", &format!("{}CVE-2026-99102,2.5,0.1\n", epss("2099-02-01", 0.97)));
    let missing = s.files.path().join("missing.json").display().to_string();
    for (file, place) in [
        (&truncated, format!("{truncated} at line ")),
        (&bad_line, format!("{bad_line} at line 4: epss of CVE-2026-99102 is `2.5`")),
        (&missing, format!("{missing}: no such file or directory")),
    ] {
        let out = trustloop(s.d(), &["replay", "--policy", &policy, "--with", file]);
        assert!(!out.status.success() && out.status.code() != Some(0), "{out:?}");
        let err = stderr(&out);
        assert!(err.contains(&place), "{place}: {err}");
        assert!(err.contains("nothing was re-run"), "{err}");
        assert!(out.stdout.is_empty(), "nothing was re-run: {}", String::from_utf8_lossy(&out.stdout));
    }
    // With a good file beside a bad one: still nothing.
    let good = s.file("kev.json", &good);
    let out = trustloop(s.d(), &["replay", "--with", &good, &truncated]);
    assert!(!out.status.success() && out.stdout.is_empty(), "{out:?}");
}
