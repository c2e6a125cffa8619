//! `yarn.lock`: yarn 1's own text format and yarn berry's (2+) YAML form, told apart by berry's
//! `__metadata` entry.
//!
//! Both are read line by line: an entry is a line at indent 0 listing its descriptors
//! (`"@babel/code-frame@^7.0.0", "@babel/code-frame@^7.10.4":`), with its fields at indent 2
//! (`version "1.2.3"` in yarn 1, `version: 1.2.3` in berry). The name comes from berry's
//! `resolution` or from the first descriptor, through `npm:` aliases to the real package.
//! Workspaces, `file:`, `link:` and `portal:` entries are left out as local; git and URL entries
//! that record a version are kept, as osv-scalibr keeps them. Yarn does not record groups or
//! which dependencies are direct.

use super::npm::{is_local, push_package};
use super::{LeftOut, LeftOutReason, Parsed};
use crate::error::{FormatError, Location};

/// Parses the `yarn.lock` file `path` with text `text`.
pub fn parse(text: &str, path: &str) -> Result<Parsed, FormatError> {
    let blocks = blocks(text, path)?;
    let mut out = Parsed::default();
    for block in &blocks {
        if block.header != "__metadata" {
            read_block(block, &mut out);
        }
    }
    Ok(out)
}

/// One entry: its header line (descriptors, without the trailing colon) and its indent-2 fields.
struct Block<'a> {
    header: &'a str,
    line: u32,
    fields: Vec<(String, String)>,
}

impl Block<'_> {
    fn field(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Splits the text into entries.
fn blocks<'a>(text: &'a str, path: &str) -> Result<Vec<Block<'a>>, FormatError> {
    let mut out: Vec<Block<'a>> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let content = raw.trim_end();
        let trimmed = content.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = content.len() - trimmed.len();
        if indent == 0 {
            let header = trimmed.strip_suffix(':').ok_or_else(|| {
                FormatError::new(path, Location::Line(line), "an entry's descriptors must end with `:`")
            })?;
            out.push(Block { header, line, fields: Vec::new() });
        } else if indent == 2 {
            let block = out
                .last_mut()
                .ok_or_else(|| FormatError::new(path, Location::Line(line), "a field before the first entry"))?;
            let (key, value) = field(trimmed).map_err(|why| FormatError::new(path, Location::Line(line), why))?;
            block.fields.push((key, value));
        }
    }
    Ok(out)
}

/// A field line (`version "1.2.3"`, `version: 1.2.3`, `resolution: "a@npm:1.0.0"`, `dependencies:`).
fn field(line: &str) -> Result<(String, String), String> {
    let (key, rest) = if line.starts_with('"') {
        let end = quoted_end(line).ok_or("an unterminated quoted key")?;
        (unquote(&line[..end])?, &line[end..])
    } else {
        let end = line.find(|c: char| c == ':' || c.is_whitespace()).unwrap_or(line.len());
        (line[..end].to_string(), &line[end..])
    };
    let rest = rest.strip_prefix(':').unwrap_or(rest).trim();
    Ok((key, unquote(rest)?))
}

/// The byte index just past the closing quote of the double-quoted string that starts `s`.
fn quoted_end(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// A value without its quotes (double-quoted strings use JSON escapes; single quotes double `'`).
fn unquote(s: &str) -> Result<String, String> {
    if s.starts_with('"') {
        serde_json::from_str(s).map_err(|e| format!("a malformed quoted string: {e}"))
    } else if let Some(inner) = s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        Ok(inner.replace("''", "'"))
    } else {
        Ok(s.to_string())
    }
}

/// The descriptors of a header, unquoted.
fn descriptors(header: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        let (part, next) = if rest.starts_with('"') {
            let end = quoted_end(rest).unwrap_or(rest.len());
            (unquote(&rest[..end]).unwrap_or_else(|_| rest[..end].to_string()), &rest[end..])
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            (rest[..end].trim().to_string(), &rest[end..])
        };
        out.push(part);
        rest = next.trim_start().strip_prefix(',').unwrap_or(next).trim_start();
    }
    out
}

/// Splits `name@spec` at the `@` after the name (a scope's leading `@` is part of the name).
pub(crate) fn split_descriptor(d: &str) -> (&str, &str) {
    match d.get(1..).and_then(|r| r.find('@')) {
        Some(i) => (&d[..=i], &d[i + 2..]),
        None => (d, ""),
    }
}

/// The real package name behind a descriptor (`x@npm:@s/y@^1` → `@s/y`).
fn real_name(descriptor: &str) -> &str {
    let (name, spec) = split_descriptor(descriptor);
    match spec.strip_prefix("npm:") {
        Some(alias) if alias.get(1..).is_some_and(|r| r.contains('@')) => split_descriptor(alias).0,
        _ => name,
    }
}

/// Reads one entry into a package or a left-out entry.
fn read_block(block: &Block<'_>, out: &mut Parsed) {
    let location = Location::Line(block.line);
    let descs = descriptors(block.header);
    let first = descs.first().map_or(block.header, String::as_str);
    let resolution = block.field("resolution");
    let name = match resolution {
        Some(r) => split_descriptor(r).0,
        None => real_name(first),
    };
    let resolution_spec = resolution.map(|r| split_descriptor(r).1);
    let resolved = block.field("resolved").unwrap_or("");
    let local = match resolution_spec {
        Some(spec) => is_local(spec),
        None => is_local(resolved) || descs.iter().any(|d| is_local(split_descriptor(d).1)),
    };
    let left = |out: &mut Parsed, reason| {
        out.left_out.push(LeftOut { entry: block.header.to_string(), location: location.clone(), reason });
    };
    if local {
        return left(out, LeftOutReason::Local);
    }
    match block.field("version").filter(|v| !v.is_empty()) {
        Some(version) => push_package(out, name, version, Vec::new(), None, location.clone()),
        None => left(out, LeftOutReason::Other("no version".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &Parsed) -> Vec<String> {
        p.packages.iter().map(|p| format!("{}@{}@{}", p.name, p.version, p.line.unwrap_or(0))).collect()
    }

    #[test]
    fn v1_entries_aliases_and_local() {
        let text = r#"# yarn lockfile v1


"@babel/code-frame@^7.0.0", "@babel/code-frame@^7.10.4":
  version "7.12.13"
  resolved "https://registry.yarnpkg.com/@babel/code-frame/-/code-frame-7.12.13.tgz"
  dependencies:
    "@babel/highlight" "^7.12.13"

"cjs@npm:ansi-regex@^5.0.0":
  version "5.0.1"

"f@file:./f":
  version "0.0.1"

balanced-match:
  version "1.0.2"
"#;
        let p = parse(text, "yarn.lock").expect("parses");
        assert_eq!(names(&p), ["@babel/code-frame@7.12.13@4", "ansi-regex@5.0.1@10", "balanced-match@1.0.2@16"]);
        assert_eq!(p.left_out.len(), 1);
        assert_eq!(p.left_out[0].reason, LeftOutReason::Local);
        assert_eq!(p.packages[0].direct, None);
    }

    #[test]
    fn berry_entries_resolution_and_workspaces() {
        let text = r#"__metadata:
  version: 8
  cacheKey: 10c0

"babel-hvi@npm:@babel/helper-validator-identifier@^7.0.0":
  version: 7.22.20
  resolution: "@babel/helper-validator-identifier@npm:7.22.20"
  languageName: node
  linkType: hard

"mine@workspace:.":
  version: 0.0.0-use.local
  resolution: "mine@workspace:."
  dependencies:
    ansi-regex: "npm:^6.0.0"
"#;
        let p = parse(text, "yarn.lock").expect("parses");
        assert_eq!(names(&p), ["@babel/helper-validator-identifier@7.22.20@5"]);
        assert_eq!(p.left_out[0].reason, LeftOutReason::Local);
    }

    #[test]
    fn malformed_says_where() {
        let e = parse("a@1:\n  version \"1\"\nnot a header\n", "yarn.lock").expect_err("bad");
        assert_eq!(e.location, Location::Line(3));
        let e = parse("  version \"1\"\n", "yarn.lock").expect_err("bad");
        assert_eq!(e.location, Location::Line(1));
        let e = parse("a@1:\n  version \"1\n", "yarn.lock").expect_err("bad");
        assert_eq!(e.location, Location::Line(2));
    }

    #[test]
    fn descriptors_split_on_commas_outside_quotes() {
        assert_eq!(descriptors(r#""a@1, x", b@2"#), ["a@1, x", "b@2"]);
        assert_eq!(split_descriptor("@s/n@^1"), ("@s/n", "^1"));
        assert_eq!(real_name("x@npm:@s/y@^1"), "@s/y");
    }

    #[test]
    fn every_truncation_parses_or_errors_without_panic() {
        let sample = "# yarn lockfile v1\n\n\"@a/b@^1\", \"@a/b@^1.1\":\n  version \"1.2.0\"\n  resolved \"https://r/x.tgz#abc\"\n\n\"c@npm:@a/b@^2\":\n  version: 2.0.0\n  resolution: \"@a/b@npm:2.0.0\"\n  dependencies:\n    d: \"npm:^1\"\n";
        for (end, _) in sample.char_indices() {
            let _ = parse(&sample[..end], "yarn.lock");
        }
        assert_eq!(parse(sample, "yarn.lock").expect("parses").packages.len(), 2);
    }
}
