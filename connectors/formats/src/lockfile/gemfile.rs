//! `Gemfile.lock` / `gems.locked` (Bundler): the `specs:` of its source sections, one
//! `name (version[-platform])` line each, indented four spaces. A platform suffix is kept out of the
//! version as Bundler does (`nokogiri (1.13.3-x86_64-linux)` is 1.13.3). Gems of the `GEM` section
//! are packages; those of `GIT` (pinned to a revision) and `PATH` (a local directory) sections, and
//! of a `PLUGIN SOURCE`, are left out. A gem the `DEPENDENCIES` section names is direct.

use super::{LeftOut, LeftOutReason, Package, Parsed};
use crate::error::{FormatError, Location};

/// One spec line of a source section.
struct Spec {
    section: String,
    name: String,
    version: Option<String>,
    raw: String,
    line: u32,
}

/// Parses the file `path` with text `text`.
pub fn parse(text: &str, path: &str) -> Result<Parsed, FormatError> {
    let (specs, direct) = read_sections(text, path)?;
    let mut parsed = Parsed::default();
    for spec in specs {
        let location = Location::Line(spec.line);
        let reason = match (spec.section.as_str(), &spec.version) {
            (_, None) => Some(LeftOutReason::Other("a spec without a version".to_string())),
            ("GEM", Some(_)) => None,
            ("GIT", Some(_)) => Some(LeftOutReason::Vcs),
            ("PATH", Some(_)) => Some(LeftOutReason::Local),
            (other, Some(_)) => Some(LeftOutReason::Other(format!("a gem of a `{other}` section"))),
        };
        match (reason, spec.version) {
            (None, Some(version)) => {
                let purl = super::purl("gem", None, &spec.name, &version)
                    .ok_or_else(|| FormatError::new(path, location, format!("`{}` is not a gem name", spec.name)))?;
                parsed.packages.push(Package {
                    ecosystem: "RubyGems",
                    direct: Some(direct.contains(&spec.name)),
                    name: spec.name,
                    version,
                    purl,
                    groups: Vec::new(),
                    line: Some(spec.line),
                });
            }
            (reason, _) => {
                let reason = reason.unwrap_or(LeftOutReason::Other("a spec without a version".to_string()));
                parsed.left_out.push(LeftOut { entry: spec.raw, location, reason });
            }
        }
    }
    Ok(parsed)
}

/// The spec lines of every source section, and the names `DEPENDENCIES` lists.
fn read_sections(text: &str, path: &str) -> Result<(Vec<Spec>, Vec<String>), FormatError> {
    const SOURCES: [&str; 4] = ["GEM", "GIT", "PATH", "PLUGIN SOURCE"];
    let mut specs = Vec::new();
    let mut direct = Vec::new();
    let mut section: Option<&str> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let raw = raw.trim_end_matches('\r');
        if raw.trim().is_empty() {
            continue;
        }
        let indent = raw.len() - raw.trim_start_matches(' ').len();
        if indent == 0 {
            section = Some(raw.trim_end());
            continue;
        }
        let Some(current) = section else {
            return Err(FormatError::new(path, Location::Line(line), "an indented line before any section"));
        };
        let body = raw.trim();
        if current == "DEPENDENCIES" && indent == 2 {
            let name = body.split([' ', '!']).next().unwrap_or(body);
            direct.push(name.to_string());
        } else if indent == 4 && SOURCES.contains(&current) {
            let (name, version) = name_version(body);
            specs.push(Spec {
                section: current.to_string(),
                name: name.to_string(),
                version: version.map(str::to_string),
                raw: body.to_string(),
                line,
            });
        }
    }
    Ok((specs, direct))
}

/// Splits `name (version[-platform])` as Bundler does: the version runs to the first `-`.
fn name_version(spec: &str) -> (&str, Option<&str>) {
    let spec = spec.strip_suffix('!').unwrap_or(spec);
    let Some((name, rest)) = spec.split_once(" (") else {
        return (spec, None);
    };
    let Some(inside) = rest.strip_suffix(')') else {
        return (spec, None);
    };
    let version = inside.split('-').next().unwrap_or(inside).trim();
    (name, Some(version).filter(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = "GIT
  remote: https://github.com/hanami/utils.git
  revision: 5904fc9a70683b8749aa2861257d0c8c01eae4aa
  specs:
    hanami-utils (2.0.0.alpha1)
      concurrent-ruby (~> 1.0)

PATH
  remote: vendor/gem/backbone
  specs:
    backbone (1.2.0.0)

GEM
  remote: https://rubygems.org/
  specs:
    concurrent-ruby (1.1.7)
    nokogiri (1.13.3-x86_64-linux)
      racc (~> 1.4)
    racc (1.6.0)
    broken

PLATFORMS
  x86_64-linux

DEPENDENCIES
  hanami-utils!
  nokogiri (>= 1.0)

BUNDLED WITH
   2.2.28
";

    #[test]
    fn gems_and_left_out_sources() {
        let parsed = parse(LOCK, "Gemfile.lock").expect("parses");
        let got: Vec<_> =
            parsed.packages.iter().map(|p| (p.name.as_str(), p.version.as_str(), p.direct, p.line)).collect();
        assert_eq!(
            got,
            vec![
                ("concurrent-ruby", "1.1.7", Some(false), Some(16)),
                ("nokogiri", "1.13.3", Some(true), Some(17)),
                ("racc", "1.6.0", Some(false), Some(19)),
            ]
        );
        assert_eq!(parsed.packages[1].purl, "pkg:gem/nokogiri@1.13.3");
        let left: Vec<_> = parsed.left_out.iter().map(|l| (l.entry.as_str(), l.reason.clone())).collect();
        assert_eq!(left[0], ("hanami-utils (2.0.0.alpha1)", LeftOutReason::Vcs));
        assert_eq!(left[1], ("backbone (1.2.0.0)", LeftOutReason::Local));
        assert_eq!(left[2].0, "broken");
        assert_eq!(parsed.left_out[2].location, Location::Line(20));
    }

    #[test]
    fn empty_and_malformed() {
        assert_eq!(parse("", "Gemfile.lock").expect("empty"), Parsed::default());
        let e = parse("    rack (1.0)\n", "Gemfile.lock").expect_err("spec before a section");
        assert_eq!(e.location, Location::Line(1));
        assert_eq!(name_version("x (1.0"), ("x (1.0", None));
        assert_eq!(name_version("x ()"), ("x", None));
    }
}
