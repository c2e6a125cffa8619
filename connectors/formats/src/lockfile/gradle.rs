//! `gradle.lockfile` / `buildscript-gradle.lockfile`: one `group:artifact:version=configurations`
//! line per package (the package named `group:artifact`), `#` comments, and the `empty=` line that
//! lists configurations with no dependencies. A line of any other shape is left out, as osv-scalibr
//! skips it.

use super::{LeftOut, LeftOutReason, Package, Parsed};
use crate::error::{FormatError, Location};

/// Parses the file `_path` with text `text` (no line can fail: an odd one is left out).
pub fn parse(text: &str, _path: &str) -> Result<Parsed, FormatError> {
    let mut parsed = Parsed::default();
    for (i, raw) in text.lines().enumerate() {
        let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("empty=") {
            continue;
        }
        match package(line) {
            Some(package) => parsed.packages.push(Package { line: Some(number), ..package }),
            None => parsed.left_out.push(LeftOut {
                entry: line.to_string(),
                location: Location::Line(number),
                reason: LeftOutReason::Other("not a `group:artifact:version=configurations` line".to_string()),
            }),
        }
    }
    Ok(parsed)
}

/// The package a `group:artifact:version=configurations` line names.
fn package(line: &str) -> Option<Package> {
    let (coordinates, _configurations) = line.split_once('=')?;
    let parts: Vec<&str> = coordinates.split(':').collect();
    let [group, artifact, version] = parts.as_slice() else {
        return None;
    };
    if [group, artifact, version].iter().any(|p| p.is_empty() || p.contains(char::is_whitespace)) {
        return None;
    }
    let purl = super::purl("maven", Some(group), artifact, version)?;
    Some(Package {
        ecosystem: "Maven",
        name: format!("{group}:{artifact}"),
        version: (*version).to_string(),
        purl,
        groups: Vec::new(),
        direct: None,
        line: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_and_bad_lines() {
        let text = "# comment\n\norg.springframework:spring-core:5.3.9=compileClasspath,runtimeClasspath\n>>>\nempty=\na:b=x\n";
        let parsed = parse(text, "gradle.lockfile").expect("parses");
        let got: Vec<_> =
            parsed.packages.iter().map(|p| (p.name.as_str(), p.version.as_str(), p.line, p.purl.as_str())).collect();
        assert_eq!(
            got,
            vec![(
                "org.springframework:spring-core",
                "5.3.9",
                Some(3),
                "pkg:maven/org.springframework/spring-core@5.3.9"
            )]
        );
        let left: Vec<_> = parsed.left_out.iter().map(|l| (l.entry.as_str(), l.location.clone())).collect();
        assert_eq!(left, vec![(">>>", Location::Line(4)), ("a:b=x", Location::Line(6))]);
        assert_eq!(parse("", "gradle.lockfile").expect("empty"), Parsed::default());
    }
}
