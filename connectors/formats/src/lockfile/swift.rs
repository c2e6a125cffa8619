//! Swift Package Manager's `Package.resolved`: v1 (`object.pins`, each with `package`,
//! `repositoryURL`, `state.version`) and v2/v3 (`pins`, each with `identity`, `kind`, `location`,
//! `state.version`). A package is named as OSV's `SwiftURL` ecosystem names it: its repository URL
//! without scheme, user and `.git` (`github.com/apple/swift-nio`). A pin with no version (a branch or
//! bare revision) is left out as VCS, a local one (`localSourceControl`, `fileSystem`) as local. The
//! line of a package is the line where its pin starts.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::composer::{LineIndex, json_error};
use super::{LeftOut, LeftOutReason, Package, Parsed};
use crate::error::{FormatError, Location};

#[derive(Deserialize)]
struct Resolved<'a> {
    #[serde(borrow, default)]
    pins: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    object: Option<Object<'a>>,
}

#[derive(Deserialize)]
struct Object<'a> {
    #[serde(borrow, default)]
    pins: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Pin {
    #[serde(default)]
    identity: Option<String>,
    #[serde(default)]
    package: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default, rename = "repositoryURL")]
    repository_url: Option<String>,
    #[serde(default)]
    state: Option<State>,
}

#[derive(Deserialize)]
struct State {
    #[serde(default)]
    version: Option<String>,
}

/// Parses the file `path` with text `text`.
pub fn parse(text: &str, path: &str) -> Result<Parsed, FormatError> {
    let resolved: Resolved<'_> = serde_json::from_str(text).map_err(|e| json_error(path, &e))?;
    let pins = match (resolved.pins, resolved.object) {
        (Some(pins), _) => pins,
        (None, Some(object)) => object.pins,
        (None, None) => Vec::new(),
    };
    let lines = LineIndex::new(text);
    let mut parsed = Parsed::default();
    for raw in pins {
        let line = lines.line_of(text, raw.get());
        let location = line.map_or(Location::Document, Location::Line);
        let pin: Pin =
            serde_json::from_str(raw.get()).map_err(|e| FormatError::new(path, location, format!("not a pin: {e}")))?;
        add(&mut parsed, pin, line, path)?;
    }
    Ok(parsed)
}

/// Adds one pin.
fn add(parsed: &mut Parsed, pin: Pin, line: Option<u32>, path: &str) -> Result<(), FormatError> {
    let location = line.map_or(Location::Document, Location::Line);
    let url = pin.location.or(pin.repository_url).unwrap_or_default();
    let label = pin.identity.or(pin.package).unwrap_or_else(|| url.clone());
    let local = matches!(pin.kind.as_deref(), Some("localSourceControl" | "fileSystem"));
    let version = pin.state.and_then(|s| s.version).filter(|v| !v.is_empty());
    let name = swift_url_name(&url);
    let (Some(version), Some(name), false) = (version.clone(), name, local) else {
        let reason = match (local, version) {
            (true, _) => LeftOutReason::Local,
            (false, None) => LeftOutReason::Vcs,
            (false, Some(_)) => LeftOutReason::Other("no repository URL".to_string()),
        };
        parsed.left_out.push(LeftOut { entry: label, location, reason });
        return Ok(());
    };
    let (namespace, short) = match name.rsplit_once('/') {
        Some((ns, short)) => (Some(ns), short),
        None => (None, name.as_str()),
    };
    let purl = super::purl("swift", namespace, short, &version)
        .ok_or_else(|| FormatError::new(path, location, format!("`{name}` is not a package name")))?;
    parsed.packages.push(Package {
        ecosystem: "SwiftURL",
        name,
        version,
        purl,
        groups: Vec::new(),
        direct: None,
        line,
    });
    Ok(())
}

/// A repository URL as a `SwiftURL` name: no scheme, no user, no `.git`, no trailing `/`
/// (`git@github.com:apple/swift-nio.git` is `github.com/apple/swift-nio`); `None` if nothing is left.
fn swift_url_name(url: &str) -> Option<String> {
    let url = url.trim();
    let (rest, scp) = match url.split_once("://") {
        Some((_, rest)) => (rest, false),
        None => (url, true),
    };
    let rest = match rest.split_once('/') {
        Some((authority, _)) if authority.contains('@') => rest.split_once('@').map_or(rest, |(_, r)| r),
        None if rest.contains('@') => rest.split_once('@').map_or(rest, |(_, r)| r),
        _ => rest,
    };
    let rest = if scp {
        match rest.split_once(':') {
            Some((host, path)) if !host.contains('/') => format!("{host}/{path}"),
            _ => rest.to_string(),
        }
    } else {
        rest.to_string()
    };
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix(".git").unwrap_or(rest);
    (!rest.is_empty()).then(|| rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: &str = r#"{
  "pins" : [
    {
      "identity" : "swift-algorithms",
      "kind" : "remoteSourceControl",
      "location" : "https://github.com/apple/swift-algorithms.git",
      "state" : {"revision" : "b14b7f4c", "version" : "1.0.0"}
    },
    {
      "identity" : "on-a-branch",
      "kind" : "remoteSourceControl",
      "location" : "git@github.com:me/on-a-branch.git",
      "state" : {"branch" : "main", "revision" : "9cfed92b"}
    },
    {
      "identity" : "local",
      "kind" : "localSourceControl",
      "location" : "/src/local",
      "state" : {"revision" : "6c89474e", "version" : "1.1.0"}
    }
  ],
  "version" : 2
}"#;

    const V1: &str = r#"{
  "object": {
    "pins": [
      {
        "package": "Alamofire",
        "repositoryURL": "https://github.com/Alamofire/Alamofire",
        "state": {"branch": null, "revision": "f96b619b", "version": "5.6.4"}
      }
    ]
  },
  "version": 1
}"#;

    #[test]
    fn v2_pins() {
        let parsed = parse(V2, "Package.resolved").expect("parses");
        let got: Vec<_> =
            parsed.packages.iter().map(|p| (p.name.as_str(), p.version.as_str(), p.line, p.purl.as_str())).collect();
        assert_eq!(
            got,
            vec![(
                "github.com/apple/swift-algorithms",
                "1.0.0",
                Some(3),
                "pkg:swift/github.com/apple/swift-algorithms@1.0.0"
            )]
        );
        assert_eq!(parsed.packages[0].ecosystem, "SwiftURL");
        let left: Vec<_> = parsed.left_out.iter().map(|l| (l.entry.as_str(), l.reason.clone())).collect();
        assert_eq!(left, vec![("on-a-branch", LeftOutReason::Vcs), ("local", LeftOutReason::Local)]);
    }

    #[test]
    fn v1_pins() {
        let parsed = parse(V1, "Package.resolved").expect("parses");
        assert_eq!(parsed.packages.len(), 1);
        assert_eq!(parsed.packages[0].name, "github.com/Alamofire/Alamofire");
        assert_eq!(parsed.packages[0].line, Some(4));
    }

    #[test]
    fn names_and_errors() {
        assert_eq!(swift_url_name("git@github.com:me/x.git").as_deref(), Some("github.com/me/x"));
        assert_eq!(swift_url_name("ssh://git@host.org/a/b/").as_deref(), Some("host.org/a/b"));
        assert_eq!(swift_url_name(""), None);
        assert!(parse("", "Package.resolved").is_err());
        assert!(parse("not\njson", "Package.resolved").is_err());
        let e = parse("{\"pins\": [\n 3]}", "Package.resolved").expect_err("bad pin");
        assert_eq!(e.location, Location::Line(2));
    }
}
