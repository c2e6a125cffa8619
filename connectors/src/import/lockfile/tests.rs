use std::path::Path;

use super::*;

const PACKAGE_LOCK: &str = r#"{
  "name": "web",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {"name": "web", "version": "1.0.0", "dependencies": {"lodash": "^4.17.0"}, "devDependencies": {"jest": "^29.0.0"}},
    "node_modules/lodash": {"version": "4.17.20", "resolved": "https://registry.npmjs.org/lodash/-/lodash-4.17.20.tgz"},
    "node_modules/jest": {"version": "29.7.0", "dev": true}
  }
}
"#;

const CARGO_LOCK: &str = r#"version = 3

[[package]]
name = "app"
version = "0.1.0"

[[package]]
name = "smallvec"
version = "0.6.9"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

fn release() -> ReleaseRef {
    ReleaseRef::parse("shop@2.0.0", Some("prod".into())).expect("release")
}

#[test]
fn a_monorepo_is_one_release() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "web/package-lock.json", PACKAGE_LOCK);
    write(root, "api/requirements.txt", "-r base.txt\nflask==2.0.1\nrequests>=2\n");
    write(root, "api/base.txt", "urllib3==1.26.5\n");
    write(root, "core/Cargo.lock", CARGO_LOCK);
    // Installed dependencies are other projects: not walked.
    write(root, "web/node_modules/x/package-lock.json", PACKAGE_LOCK.replace("4.17.20", "1.0.0").as_str());
    write(root, "api/vendor/go.mod", "module x\n\nrequire example.com/y v1.0.0\n");
    // A broken file is an error with its location; the rest is imported.
    write(root, "tools/yarn.lock", "# yarn lockfile v1\n\n\"left-pad@^1\":\n  version \"1.3.0\n");

    let out = import(&[root.to_path_buf()], None, &release(), "acme", EventTime::from_micros(5)).expect("import");
    let inv = out.inventory.expect("inventory");
    let purls: Vec<&str> = inv.components.iter().map(|c| c.purl.as_str()).collect();
    assert_eq!(
        purls,
        [
            "pkg:cargo/smallvec@0.6.9",
            "pkg:npm/jest@29.7.0",
            "pkg:npm/lodash@4.17.20",
            "pkg:pypi/flask@2.0.1",
            "pkg:pypi/urllib3@1.26.5"
        ]
    );
    let jest = &inv.components[1];
    assert_eq!(jest.scope.as_deref(), Some("dev"));
    assert!(jest.location.as_deref().is_some_and(|l| l.contains("web/package-lock.json:")), "{jest:?}");
    assert_eq!(inv.format, InventoryFormat::Lockfile);
    assert_eq!(&*inv.envelope.key, "shop@2.0.0");
    let reasons: Vec<(&str, &str)> = inv.left_out.iter().map(|l| (l.component.as_str(), l.reason.as_str())).collect();
    assert!(reasons.iter().any(|(c, r)| c.contains("requests") && *r == "no pinned version"), "{reasons:?}");
    assert!(reasons.iter().any(|(c, _)| *c == "app@0.1.0"), "{reasons:?}");
    assert_eq!(out.files.len(), 3, "{:?}", out.files);
    assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
    assert!(out.errors[0].path.ends_with("tools/yarn.lock"), "{:?}", out.errors[0]);
}

#[test]
fn a_single_cargo_lock_is_what_import_cargo_lock_made() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "Cargo.lock", CARGO_LOCK);
    let path = dir.path().join("Cargo.lock");
    let t = EventTime::from_micros(9);
    let out = import(std::slice::from_ref(&path), None, &release(), "acme", t).expect("import");
    let inv = out.inventory.expect("inventory");
    let direct = cargo_lock::parse(CARGO_LOCK, &path.display().to_string(), &release(), "acme", t).expect("parse");
    assert_eq!(inv.envelope.event_id, direct.inventory.envelope.event_id, "same release, same digest");
    assert_eq!(inv.format, InventoryFormat::CargoLock);
    assert_eq!(inv.document_digest, direct.inventory.document_digest);
    assert_eq!(inv.components.len(), 1);
}

#[test]
fn kinds_are_told_by_name_content_or_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "deps.lock", PACKAGE_LOCK);
    write(dir.path(), "notes.txt", "hello\n");
    let files = [dir.path().join("deps.lock"), dir.path().join("notes.txt")];
    let out = import(&files, None, &release(), "acme", EventTime::from_micros(1)).expect("import");
    assert_eq!(out.files.iter().map(|f| f.kind).collect::<Vec<_>>(), [LockKind::Other(Kind::PackageLock)]);
    assert_eq!(out.unsupported.len(), 1);
    let forced = LockKind::from_name("requirements");
    let out = import(&files[1..], forced, &release(), "acme", EventTime::from_micros(1)).expect("import");
    assert!(out.inventory.is_some_and(|i| i.components.is_empty() && i.left_out.len() == 1));
    assert_eq!(LockKind::from_name("cargo-lock"), Some(LockKind::Cargo));
    assert!(LockKind::names().contains(&"pnpm-lock"));
    let missing = import(&[dir.path().join("nope.lock")], None, &release(), "acme", EventTime::from_micros(1));
    assert!(missing.is_err());
}
