//! trustloop's lockfile parsers against google/osv-scalibr's own extractor test tables, read as
//! data from `../shared/data/lockfiles/osv-scalibr/<folder>/*_test.go` (see `scalibr/mod.rs`).
//!
//! One test per scalibr folder (`shared_data_scalibr_<folder>`): every table entry that names an
//! input file is parsed with the matching [`Kind`] and compared with what the table wants — an
//! error where it wants one, else the multiset of (name, version, groups) and, where both sides
//! have one, the line. Deliberate differences are listed in
//! `tests/fixtures/scalibr-differences.tsv` (folder, test function, case name, reason): a listed
//! case is printed, not asserted, and a listed case that passes fails the test as stale.

mod scalibr;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use scalibr::{Case, Table, WantPackage};
use trustloop_formats::lockfile::{Kind, Package, Parsed};
use trustloop_formats::{FormatError, Location};

/// Each scalibr folder and the kind that reads it (`None`: read elsewhere).
const FOLDERS: [(&str, Option<Kind>); 20] = [
    ("bunlock", Some(Kind::BunLock)),
    ("cargolock", None),
    ("composerlock", Some(Kind::ComposerLock)),
    ("gemfilelock", Some(Kind::GemfileLock)),
    ("gomod", Some(Kind::GoMod)),
    ("gradlelockfile", Some(Kind::GradleLockfile)),
    ("mixlock", Some(Kind::MixLock)),
    ("packagelockjson", Some(Kind::PackageLock)),
    ("packageresolved", Some(Kind::PackageResolved)),
    ("packageslockjson", Some(Kind::NugetLock)),
    ("pdmlock", Some(Kind::PdmLock)),
    ("pipfilelock", Some(Kind::PipfileLock)),
    ("pnpmlock", Some(Kind::PnpmLock)),
    ("poetrylock", Some(Kind::PoetryLock)),
    ("pomxml", Some(Kind::PomXml)),
    ("pubspec", Some(Kind::PubspecLock)),
    ("renvlock", Some(Kind::RenvLock)),
    ("requirements", Some(Kind::Requirements)),
    ("uvlock", Some(Kind::UvLock)),
    ("yarnlock", Some(Kind::YarnLock)),
];

/// The differences file, beside the fixtures.
const DIFFERENCES: &str = "tests/fixtures/scalibr-differences.tsv";

fn shared_data() -> PathBuf {
    match std::env::var_os("TRUSTLOOP_SHARED_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

fn scalibr_dir() -> PathBuf {
    shared_data().join("lockfiles/osv-scalibr")
}

/// The `*_test.go` files of a folder, sorted.
fn go_test_files(folder: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with("_test.go")))
        .collect();
    files.sort();
    files
}

/// One line of the differences file.
#[derive(Debug, Clone)]
struct Difference {
    folder: String,
    test_fn: String,
    case: String,
    reason: String,
    line: usize,
}

fn differences() -> Vec<Difference> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DIFFERENCES);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_differences(&text).unwrap_or_else(|e| panic!("{DIFFERENCES}{e}"))
}

fn parse_differences(text: &str) -> Result<Vec<Difference>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() || raw.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = raw.split('\t').collect();
        let [folder, test_fn, case, reason] = cols.as_slice() else {
            return Err(format!(":{}: want 4 tab-separated columns, found {}", i + 1, cols.len()));
        };
        if reason.trim().is_empty() {
            return Err(format!(":{}: a difference needs a reason", i + 1));
        }
        out.push(Difference {
            folder: folder.to_string(),
            test_fn: test_fn.to_string(),
            case: case.to_string(),
            reason: reason.to_string(),
            line: i + 1,
        });
    }
    Ok(out)
}

/// What `Kind::parse` made of one case's input, against the table.
fn check_case(kind: Kind, test_dir: &Path, case: &Case) -> Result<(), String> {
    let fixture = test_dir.join(&case.path);
    let bytes = std::fs::read(&fixture).map_err(|e| format!("cannot read the fixture: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| format!("the fixture is not UTF-8: {e}"))?;
    let fixture_dir = fixture.parent().unwrap_or(test_dir).to_path_buf();
    let mut read = |p: &str| {
        std::fs::read_to_string(fixture_dir.join(p)).map_err(|e| FormatError::new(p, Location::Document, e.to_string()))
    };
    let parsed = kind.parse(&text, &fixture.to_string_lossy(), &mut read);
    if let Err(e) = &parsed
        && e.reason.contains("is not read yet")
    {
        return Err(format!("the parser is a stub: {e}"));
    }
    match (&case.want_err, parsed) {
        (Some(_), Err(_)) => Ok(()),
        (Some(want), Ok(p)) => Err(format!(
            "scalibr wants an error{}; trustloop read {} packages and left out {}",
            if want.is_empty() { String::new() } else { format!(" containing {want:?}") },
            p.packages.len(),
            p.left_out.len()
        )),
        (None, Err(e)) => Err(format!("scalibr wants {} packages; trustloop failed: {e}", case.want.len())),
        (None, Ok(p)) => compare(&case.want, &p),
    }
}

/// The comparison key: name, version, groups.
type Key = (String, String, Vec<String>);

fn want_key(w: &WantPackage) -> Key {
    (w.name.clone(), w.version.clone(), w.groups.clone())
}

fn got_key(p: &Package) -> Key {
    (p.name.clone(), p.version.clone(), p.groups.clone())
}

fn show(k: &Key) -> String {
    if k.2.is_empty() { format!("{}@{}", k.0, k.1) } else { format!("{}@{} [{}]", k.0, k.1, k.2.join(",")) }
}

/// Compares the wanted packages with what was parsed. A wanted package without a version (scalibr
/// lists unpinned requirements) may instead be a left-out entry naming it: trustloop puts what it
/// cannot pin in `left_out`, by design.
fn compare(want: &[WantPackage], parsed: &Parsed) -> Result<(), String> {
    let mut got: BTreeMap<Key, Vec<Option<u32>>> = BTreeMap::new();
    for p in &parsed.packages {
        got.entry(got_key(p)).or_default().push(p.line);
    }
    let mut wanted: BTreeMap<Key, Vec<Option<u32>>> = BTreeMap::new();
    for w in want {
        wanted.entry(want_key(w)).or_default().push(w.line);
    }
    let mut left_out_used = vec![false; parsed.left_out.len()];
    let mut missing = Vec::new();
    let mut extra = Vec::new();
    let mut lines = Vec::new();
    for (key, want_lines) in &wanted {
        let got_lines = got.get(key).map(Vec::as_slice).unwrap_or_default();
        let matched = want_lines.len().min(got_lines.len());
        for _ in matched..want_lines.len() {
            let name = key.0.to_lowercase();
            let left_out = parsed
                .left_out
                .iter()
                .enumerate()
                .position(|(i, l)| !left_out_used[i] && key.1.is_empty() && l.entry.to_lowercase().contains(&name));
            match left_out {
                Some(i) => left_out_used[i] = true,
                None => missing.push(show(key)),
            }
        }
        for _ in matched..got_lines.len() {
            extra.push(show(key));
        }
        let mut w: Vec<u32> = want_lines.iter().flatten().copied().collect();
        let mut g: Vec<u32> = got_lines.iter().flatten().copied().collect();
        if w.len() == want_lines.len() && g.len() == got_lines.len() && w.len() == g.len() {
            w.sort_unstable();
            g.sort_unstable();
            if w != g {
                lines.push(format!("{} at line {w:?}, trustloop says {g:?}", show(key)));
            }
        }
    }
    for (key, got_lines) in &got {
        if !wanted.contains_key(key) {
            extra.extend(got_lines.iter().map(|_| show(key)));
        }
    }
    if missing.is_empty() && extra.is_empty() && lines.is_empty() {
        return Ok(());
    }
    let mut msg = format!("{} wanted, {} read", want.len(), parsed.packages.len());
    for (label, list) in [("missing", &missing), ("extra", &extra), ("lines differ", &lines)] {
        if !list.is_empty() {
            let _ = write!(msg, "\n      {label} ({}): {}", list.len(), head(list, 12));
        }
    }
    Err(msg)
}

/// The first `n` items, and how many more.
fn head(list: &[String], n: usize) -> String {
    let shown = list.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if list.len() > n { format!("{shown}, … and {} more", list.len() - n) } else { shown }
}

/// Runs every case of one folder; panics with the failures.
fn run_folder(folder: &str) {
    let kind = FOLDERS
        .iter()
        .find(|(f, _)| *f == folder)
        .and_then(|(_, k)| *k)
        .unwrap_or_else(|| panic!("no kind reads scalibr folder {folder}"));
    let dir = scalibr_dir().join(folder);
    let all_differences = differences();
    let listed: Vec<&Difference> = all_differences.iter().filter(|d| d.folder == folder).collect();
    let mut used = vec![false; listed.len()];
    let (mut total, mut passed, mut differing, mut skipped) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for file in go_test_files(&dir) {
        let file_name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let table: Table = scalibr::read_table(&file).unwrap_or_else(|e| panic!("{e}"));
        for e in &table.errors {
            failures.push(format!("{folder}/{file_name}: a table the reader cannot parse: {e}"));
        }
        skipped += table.skipped.len();
        for case in &table.cases {
            total += 1;
            let at = format!("{folder}/{file_name}:{} {} {:?} ({})", case.go_line, case.test_fn, case.name, case.path);
            let result = check_case(kind, &dir, case);
            let difference = listed.iter().position(|d| d.test_fn == case.test_fn && d.case == case.name);
            if let Some(i) = difference {
                used[i] = true;
            }
            match (result, difference) {
                (Ok(()), None) => passed += 1,
                (Ok(()), Some(i)) => failures.push(format!(
                    "{at}: stale difference ({DIFFERENCES}:{}): the case passes now; remove the line",
                    listed[i].line
                )),
                (Err(why), Some(i)) => {
                    differing += 1;
                    eprintln!("listed difference {at}: {}\n      {why}", listed[i].reason);
                }
                (Err(why), None) => failures.push(format!("{at}: {why}")),
            }
        }
    }
    for (d, used) in listed.iter().zip(&used) {
        if !used {
            failures.push(format!(
                "{DIFFERENCES}:{}: no case {} {:?} in scalibr folder {folder}",
                d.line, d.test_fn, d.case
            ));
        }
    }
    eprintln!(
        "scalibr {folder} ({}): {total} cases, {passed} passed, {differing} listed differences, {} failed, \
         {skipped} entries skipped as not literal",
        kind.name(),
        failures.len()
    );
    assert!(total > 0, "no cases read from {}", dir.display());
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("FAIL {f}");
        }
        panic!("scalibr {folder}: {} of {total} cases fail (see FAIL lines above)", failures.len());
    }
}

/// One test per scalibr folder, named `shared_data_scalibr_<folder>`.
macro_rules! folder_test {
    ($name:ident, $folder:literal) => {
        #[doc = concat!("scalibr's `", $folder, "` tables against trustloop's parser.")]
        #[test]
        #[ignore = "needs ../shared/data (shared_data)"]
        fn $name() {
            run_folder($folder);
        }
    };
}

folder_test!(shared_data_scalibr_bunlock, "bunlock");
folder_test!(shared_data_scalibr_composerlock, "composerlock");
folder_test!(shared_data_scalibr_gemfilelock, "gemfilelock");
folder_test!(shared_data_scalibr_gomod, "gomod");
folder_test!(shared_data_scalibr_gradlelockfile, "gradlelockfile");
folder_test!(shared_data_scalibr_mixlock, "mixlock");
folder_test!(shared_data_scalibr_packagelockjson, "packagelockjson");
folder_test!(shared_data_scalibr_packageresolved, "packageresolved");
folder_test!(shared_data_scalibr_packageslockjson, "packageslockjson");
folder_test!(shared_data_scalibr_pdmlock, "pdmlock");
folder_test!(shared_data_scalibr_pipfilelock, "pipfilelock");
folder_test!(shared_data_scalibr_pnpmlock, "pnpmlock");
folder_test!(shared_data_scalibr_poetrylock, "poetrylock");
folder_test!(shared_data_scalibr_pomxml, "pomxml");
folder_test!(shared_data_scalibr_pubspec, "pubspec");
folder_test!(shared_data_scalibr_renvlock, "renvlock");
folder_test!(shared_data_scalibr_requirements, "requirements");
folder_test!(shared_data_scalibr_uvlock, "uvlock");
folder_test!(shared_data_scalibr_yarnlock, "yarnlock");

/// `cases()` finds at least one case in each of the 20 folders and the reader parses every table;
/// prints how many entries per file were skipped as not literal.
#[test]
#[ignore = "needs ../shared/data (shared_data)"]
fn shared_data_scalibr_tables_self_check() {
    let mut problems = Vec::new();
    for (folder, _) in FOLDERS {
        let files = go_test_files(&scalibr_dir().join(folder));
        let mut folder_cases = 0;
        for file in &files {
            let table = match scalibr::read_table(file) {
                Ok(t) => t,
                Err(e) => {
                    problems.push(e);
                    continue;
                }
            };
            assert_eq!(scalibr::cases(file), table.cases, "cases() and read_table() agree on {}", file.display());
            folder_cases += table.cases.len();
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            eprintln!("{folder}/{name}: {} cases, {} skipped as not literal", table.cases.len(), table.skipped.len());
            for s in &table.skipped {
                eprintln!("    skipped {}:{} {} {:?}: {}", name, s.go_line, s.test_fn, s.name, s.why);
            }
            problems.extend(table.errors.iter().map(|e| format!("{folder}/{name}: {e}")));
        }
        if folder_cases == 0 {
            problems.push(format!("{folder}: no cases"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The differences file parses, and every line names a known folder.
#[test]
fn differences_file_is_well_formed() {
    for d in differences() {
        assert!(
            FOLDERS.iter().any(|(f, k)| *f == d.folder && k.is_some()),
            "{DIFFERENCES}:{}: folder {}",
            d.line,
            d.folder
        );
    }
    assert!(parse_differences("a\tb\tc\n").is_err());
    assert!(parse_differences("a\tb\tc\t \n").is_err());
}

/// The reader on a shipped copy of scalibr's `uvlock_test.go` (Apache-2.0, see the LICENSE-NOTE):
/// 9 extraction entries, 4 of them building packages with the file's helper `pkg(t, ...)`.
#[test]
fn scalibr_reader_on_shipped_uvlock_table() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scalibr/uvlock_test.go");
    let table = scalibr::read_table(&file).expect("reads");
    assert_eq!(table.errors, Vec::<String>::new());
    assert_eq!(table.skipped, []);
    let cases = scalibr::cases(&file);
    assert_eq!(cases.len(), 9);
    assert!(cases.iter().all(|c| c.test_fn == "TestExtractor_Extract"));
    let count = |name: &str| cases.iter().find(|c| c.name == name).map(|c| c.want.len());
    assert_eq!(count("invalid toml"), Some(0));
    assert_eq!(count("two packages"), Some(2));
    assert_eq!(count("grouped packages"), Some(14));
    assert_eq!(cases[0].want_err.as_deref(), Some("could not extract"));
    let package = |name: &str, version: &str, groups: &[&str], line| WantPackage {
        name: name.into(),
        version: version.into(),
        purl_type: Some("pypi".into()),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        line: Some(line),
    };
    let git = cases.iter().find(|c| c.name == "source git").expect("source git");
    assert_eq!(git.path, "testdata/source-git.lock");
    assert_eq!(git.want, [package("ruff", "0.8.1", &[], 5)]);
    let grouped = cases.iter().find(|c| c.name == "grouped packages").expect("grouped packages");
    assert_eq!(grouped.want[0], package("emoji", "2.14.0", &[], 60));
    assert_eq!(grouped.want[3], package("black", "24.10.0", &["dev", "test"], 5));
}

/// The comparison reports missing, extra and line differences, and takes an unversioned wanted
/// package as matched by a left-out entry naming it.
#[test]
fn comparison_reports_what_differs() {
    let want = |name: &str, version: &str, line| WantPackage {
        name: name.into(),
        version: version.into(),
        purl_type: None,
        groups: vec![],
        line,
    };
    let got = |name: &str, version: &str, line| Package {
        ecosystem: "npm",
        name: name.into(),
        version: version.into(),
        purl: String::new(),
        groups: vec![],
        direct: None,
        line,
    };
    let parsed = Parsed {
        packages: vec![got("a", "1", Some(3)), got("c", "3", None)],
        left_out: vec![trustloop_formats::lockfile::LeftOut {
            entry: "D>=2".into(),
            location: Location::Line(4),
            reason: trustloop_formats::lockfile::LeftOutReason::Unpinned,
        }],
    };
    assert_eq!(compare(&[want("a", "1", Some(3)), want("c", "3", Some(9)), want("d", "", None)], &parsed), Ok(()));
    let err = compare(&[want("a", "1", Some(4)), want("b", "2", None)], &parsed).expect_err("differs");
    assert!(err.contains("missing (1): b@2"), "{err}");
    assert!(err.contains("extra (1): c@3"), "{err}");
    assert!(err.contains("a@1 at line [4], trustloop says [3]"), "{err}");
}
