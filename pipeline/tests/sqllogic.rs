//! The SQL surface as `.slt` files (sqllogictest, as DataFusion tests its SQL): every file under
//! `tests/slt/` runs against the log `trustloop demo` derives (its inputs ship with the binary and
//! it derives the same events, id for id, every time), through the session `trustloop sql` uses.
//! A file added there is run: no code names them. `TRUSTLOOP_BLESS=1` rewrites their expected
//! results from what the queries return (by hand, never in CI). `.slt` files inside a case folder
//! run against that case's log instead (tests/cases.rs).

#[path = "support/slt.rs"]
mod slt;
mod support;

use std::path::Path;

#[test]
fn every_slt_file_holds_over_the_demo_log() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/slt");
    let dir = dir.canonicalize().unwrap_or(dir);
    let files = slt::slt_files(&dir);
    assert!(!files.is_empty(), "no .slt files under {}", dir.display());
    let root = tempfile::tempdir().expect("tempdir");
    support::ok(&support::trustloop_cli(root.path(), &["demo"], ""));
    if let Err(why) = slt::run_folder(&dir, root.path()) {
        panic!("the SQL surface over the demo's log differs from what the .slt files say:\n\n{why}");
    }
}
