//! Black-box tests of `trustloop import kev` and `import epss`: a release promoted while its
//! vulnerability was not known to be exploited flips to FAIL when a catalog lists the CVE — at the
//! entry's `dateAdded` — replay of that verdict matches, blame names the catalog, and a later
//! catalog that drops the entry takes it back. Bad catalogs and EPSS lines are rejected with their
//! place, to `dlq`, and the rest is imported.

use std::path::Path;

use serde_json::Value;

mod support;
use support::*;

const ADVISORY: &str = r#"{"id":"TEST-2026-0101","modified":"2026-01-01T00:00:00Z","aliases":["CVE-2026-99101"],
  "affected":[{"package":{"ecosystem":"npm","name":"lodash"},
               "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"4.17.21"}]}]}]}"#;

const PACKAGE_LOCK: &str = r#"{"name": "web", "version": "1.0.0", "lockfileVersion": 3, "requires": true,
  "packages": {"": {"name": "web", "version": "1.0.0", "dependencies": {"lodash": "^4.17.0"}},
               "node_modules/lodash": {"version": "4.17.20"}}}"#;

fn catalog(version: &str, released: &str, entries: &[(&str, &str)]) -> String {
    let items: Vec<String> = entries
        .iter()
        .map(|(cve, date)| {
            format!(
                r#"{{"cveID": "{cve}", "vendorProject": "lodash", "product": "lodash", "vulnerabilityName": "test",
                    "dateAdded": "{date}", "dueDate": "{date}", "knownRansomwareCampaignUse": "Unknown", "cwes": []}}"#
            )
        })
        .collect();
    format!(
        r#"{{"title": "CISA Catalog", "catalogVersion": "{version}", "dateReleased": "{released}", "count": {},
            "vulnerabilities": [{}]}}"#,
        entries.len(),
        items.join(",")
    )
}

fn verdicts(data: &Path) -> Vec<Value> {
    consume(data, "verdicts").into_iter().filter(|v| v["subject"] == "shop@1.0.0@staging").collect()
}

#[test]
fn a_catalog_listing_flips_a_promoted_release_at_its_date_and_a_later_catalog_takes_it_back() {
    let data = tempfile::tempdir().expect("tempdir");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data.path();
    let file = |name: &str, text: &str| write_file(dir.path(), name, text);
    ok(&trustloop(d, &["import", "osv", &file("advisory.json", ADVISORY)]));
    ok(&trustloop(d, &["import", "lockfile", &file("web/package-lock.json", PACKAGE_LOCK), "--release", "shop@1.0.0"]));
    let promotion = r#"{"release_name": "shop", "release_version": "1.0.0", "from_environment": "dev",
        "to_environment": "staging", "requested_by": "ci", "event_time": "2026-03-01T00:00:00Z"}"#;
    ok(&trustloop_with_stdin(
        d,
        &["produce", "--topic", "promotions", "--tenant", "default"],
        &format!("{}\n", promotion.replace('\n', " ")),
    ));
    ok(&trustloop(d, &["run", "--until-idle"]));
    let v = verdicts(d);
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(v[0]["outcome"], "PASS", "{v:#?}");

    // The catalog lists the advisory's CVE on 2099-04-01: later than everything else here (the
    // lockfile's inventory is stamped with the time of its import), so the verdict is at that date.
    let listed = file(
        "kev-1.json",
        &catalog(
            "2099.04.02",
            "2099-04-02T10:00:00.000Z",
            &[("CVE-2026-99101", "2099-04-01"), ("CVE-2021-4034", "2022-06-27")],
        ),
    );
    let out = trustloop(d, &["import", "--json", "kev", &listed]);
    let summary: Value = serde_json::from_str(&ok(&out)).expect("summary");
    assert_eq!(summary["imported"], 2, "{summary}");
    ok(&trustloop(d, &["run", "--until-idle"]));
    let v = verdicts(d);
    assert_eq!(v.len(), 2, "{v:#?}");
    let fail = &v[1];
    assert_eq!((fail["outcome"].as_str(), fail["previous"].as_str()), (Some("FAIL"), Some("PASS")), "{fail:#}");
    assert!(fail["event_time"].as_str().expect("time").starts_with("2099-04-01T00:00:00"), "{fail:#}");
    let reasons = fail["reasons"].to_string();
    assert!(
        reasons.contains("known-exploited") && reasons.contains("CVE-2026-99101 in a known-exploited catalog"),
        "{reasons}"
    );
    let findings = consume(d, "findings");
    let last = findings.last().expect("finding");
    assert_eq!(
        (last["known_exploited"].as_bool(), last["exploited_ids"][0].as_str()),
        (Some(true), Some("CVE-2026-99101"))
    );

    // Replay rebuilds that verdict byte for byte; blame names the catalog.
    let id = fail["event_id"].as_str().expect("id");
    let replayed: Value = serde_json::from_str(&ok(&trustloop(d, &["replay", "verdict", id, "--json"]))).expect("json");
    assert_eq!(replayed["matched"], true, "{replayed:#}");
    let blame: Value =
        serde_json::from_str(&ok(&trustloop(d, &["blame", "shop@1.0.0@staging", "--json"]))).expect("json");
    let change = blame.as_array().and_then(|c| c.last()).expect("a change");
    assert_eq!(change["cause_kind"], "known-exploited", "{blame:#?}");
    assert!(change["cause"].as_str().expect("cause").contains("CVE-2026-99101"), "{change}");

    // The same catalog again writes nothing; a later one without the entry takes it back.
    let again: Value =
        serde_json::from_str(&ok(&trustloop(d, &["import", "--json", "kev", &listed]))).expect("summary");
    assert_eq!(again["imported"], 0, "{again}");
    let dropped =
        file("kev-2.json", &catalog("2099.05.01", "2099-05-01T10:00:00.000Z", &[("CVE-2021-4034", "2022-06-27")]));
    ok(&trustloop(d, &["import", "kev", &dropped]));
    ok(&trustloop(d, &["run", "--until-idle"]));
    let v = verdicts(d);
    assert_eq!(v.last().expect("verdict")["outcome"], "PASS", "{v:#?}");
    let kev = consume(d, "known-exploited");
    assert_eq!(kev.last().expect("event")["change"], "removed", "{kev:#?}");
    // The older catalog again, after the newer one: refused whole (it would re-list the CVE).
    let out = trustloop(d, &["import", "kev", &listed]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("catalog 2099.04.02 is older than catalog 2099.05.01"), "{err}");
    assert_eq!(consume(d, "known-exploited").len(), kev.len(), "nothing written");
}

#[test]
fn bad_catalogs_and_epss_lines_are_rejected_with_their_place_and_the_rest_imported() {
    let data = tempfile::tempdir().expect("tempdir");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data.path();
    let good = catalog("2026.04.02", "2026-04-02T10:00:00.000Z", &[("CVE-2026-99101", "2026-04-01")]);
    let truncated = dir.path().join("truncated.json");
    std::fs::write(&truncated, &good[..good.len() / 2]).expect("write");
    let out = trustloop(d, &["import", "kev", &truncated.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("truncated.json at line 2:"), "{err}");
    let bad_entry = dir.path().join("bad-entry.json");
    std::fs::write(&bad_entry, good.replace("\"dateAdded\": \"2026-04-01\"", "\"dateAdded\": \"April\""))
        .expect("write");
    let out = trustloop(d, &["import", "kev", &bad_entry.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at /vulnerabilities/0/dateAdded"), "{out:?}");

    let epss = dir.path().join("epss_scores-2026-04-02.csv");
    std::fs::write(
        &epss,
        "#model_version:v2025.03.14,score_date:2026-04-02T00:00:00+0000\ncve,epss,percentile\n\
         CVE-2026-99101,0.97,0.999\nCVE-2026-0002,2.5,0.1\nCVE-2026-0003,0.01,0.2\n",
    )
    .expect("write");
    let out = trustloop(d, &["import", "--json", "epss", &epss.display().to_string()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("score_date"), "an offset without a colon is not RFC 3339: {err}");
    std::fs::write(
        &epss,
        "#model_version:v2025.03.14,score_date:2026-04-02T00:00:00Z\ncve,epss,percentile\n\
         CVE-2026-99101,0.97,0.999\nCVE-2026-0002,2.5,0.1\nCVE-2026-0003,0.01,0.2\n",
    )
    .expect("write");
    let out = trustloop(d, &["import", "--json", "epss", &epss.display().to_string()]);
    assert_eq!(out.status.code(), Some(1), "one line rejected");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("epss_scores-2026-04-02.csv at line 4: epss of CVE-2026-0002 is `2.5`"), "{err}");
    let summary: Value = serde_json::from_slice(&out.stdout).expect("summary");
    assert_eq!((summary["imported"].as_u64(), summary["rejected"].as_u64()), (Some(1), Some(1)), "{summary}");
    let scores = consume(d, "epss");
    assert_eq!(scores[0]["scores"].as_array().map(Vec::len), Some(2), "{scores:#?}");
    let dlq = consume(d, "dlq");
    assert_eq!(dlq.len(), 4, "every rejection is a dead letter: {dlq:#?}");
}
