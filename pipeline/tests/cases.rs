//! Every regression case folder under `tests/cases/` (see its README): the commands of its
//! `case.toml` run on a fresh embedded log, then each topic compared with `expected/<topic>.jsonl`
//! and each `.slt` file of the folder run against the log. A folder added there is a case: no
//! code names them. `TRUSTLOOP_CASES=NAME` runs only the cases whose name contains NAME;
//! `TRUSTLOOP_BLESS=1` rewrites what they expect from what they derive (by hand, never in CI).

#[path = "support/case.rs"]
mod case;
#[path = "support/slt.rs"]
mod slt;
mod support;

#[test]
fn every_case_folder_derives_what_it_expects() {
    let folders = case::case_folders();
    assert!(
        !folders.is_empty() || std::env::var("TRUSTLOOP_CASES").is_ok(),
        "no case folders under {}",
        case::cases_dir().display()
    );
    let mut failures = Vec::new();
    for folder in &folders {
        let name = case::name(folder);
        let scratch = tempfile::tempdir().expect("tempdir");
        let result = case::run(folder, scratch.path()).and_then(|data| slt::run_folder(folder, &data));
        match result {
            Ok(()) => eprintln!("case {name}: ok"),
            Err(why) => {
                eprintln!("case {name}: FAILED");
                failures.push(format!("case `{name}` ({}):\n{why}", folder.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} case(s) failed:\n\n{}",
        failures.len(),
        folders.len(),
        failures.join("\n\n")
    );
}
