//! `go.mod`: `require` (single lines and blocks, `// indirect` marking an indirect one), `replace`
//! (a replacement with a version stands for the module it replaces; a local directory is left out),
//! and the `go` / `toolchain` directives, which pin the standard library as the package `stdlib`,
//! as osv-scalibr reports it. Versions lose their leading `v`, as osv-scalibr and OSV's Go
//! ecosystem write them.
//!
//! A `go.mod` of Go 1.16 or older does not list every indirect module; those are only in `go.sum`,
//! which [`parse_with_sum`] reads beside it as osv-scalibr does ([`parse`] reads `go.mod` alone).

use super::{LeftOut, LeftOutReason, Package, Parsed};
use crate::error::{FormatError, Location};

/// The directives `go.mod` knows; any other word at the start of a line is an error.
const VERBS: [&str; 10] =
    ["module", "go", "toolchain", "godebug", "require", "exclude", "replace", "retract", "tool", "ignore"];

/// One directive line, with the verb of its block if it is inside one.
struct Line<'a> {
    verb: &'a str,
    args: Vec<String>,
    comment: &'a str,
    number: u32,
}

/// Parses the file `path` with text `text` (`go.mod` alone).
pub fn parse(text: &str, path: &str) -> Result<Parsed, FormatError> {
    Ok(parse_mod(text, path)?.0)
}

/// Parses the file `path` with text `text` and, where its `go` directive is older than 1.17 (whose
/// `go.mod` lists only direct modules), the `go.sum` beside it, fetched by `read` by its file name
/// (`go.sum`, or `x.sum` for `x.mod`): modules only `go.sum` lists are added as indirect. A
/// `go.sum` that `read` cannot fetch is skipped.
pub fn parse_with_sum(
    text: &str,
    path: &str,
    read: &mut dyn FnMut(&str) -> Result<String, FormatError>,
) -> Result<Parsed, FormatError> {
    let (mut parsed, go_version) = parse_mod(text, path)?;
    if !go_version.as_deref().is_some_and(before_go_1_17) {
        return Ok(parsed);
    }
    let file_name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let sum_name = format!("{}.sum", file_name.strip_suffix(".mod").unwrap_or(file_name));
    let Ok(sum) = read(&sum_name) else {
        return Ok(parsed);
    };
    for package in sum_packages(&sum, &sum_name)? {
        if !parsed.packages.iter().any(|p| p.name == package.name && p.version == package.version) {
            parsed.packages.push(package);
        }
    }
    Ok(parsed)
}

/// Whether a `go` directive's version (`1.16`, `1.21rc1`) is older than 1.17.
fn before_go_1_17(version: &str) -> bool {
    let mut parts = version.split('.');
    let number = |p: Option<&str>| -> Option<u32> {
        let digits: String = p?.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    match (number(parts.next()), number(parts.next())) {
        (Some(major), Some(minor)) => (major, minor) < (1, 17),
        (Some(major), None) => major < 1,
        _ => false,
    }
}

/// The modules a `go.sum` lists (lines `module version hash`; `version/go.mod` lines skipped).
fn sum_packages(text: &str, path: &str) -> Result<Vec<Package>, FormatError> {
    let mut out: Vec<Package> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, version, _hash] = fields.as_slice() else {
            if fields.is_empty() {
                continue;
            }
            return Err(FormatError::new(path, Location::Line(number), "want `module version hash`"));
        };
        if version.contains("/go.mod") {
            continue;
        }
        let package = package(name, version, Some(false), number)
            .ok_or_else(|| FormatError::new(path, Location::Line(number), format!("`{name}` is not a module path")))?;
        if !out.iter().any(|p| p.name == package.name && p.version == package.version) {
            out.push(package);
        }
    }
    Ok(out)
}

/// Parses `go.mod`; also returns its `go` directive's version.
fn parse_mod(text: &str, path: &str) -> Result<(Parsed, Option<String>), FormatError> {
    let lines = directives(text, path)?;
    let mut required: Vec<(Package, String)> = Vec::new();
    let mut left_out = Vec::new();
    let mut go_version: Option<(String, u32)> = None;
    let mut toolchain: Option<(String, u32)> = None;
    for line in &lines {
        match line.verb {
            "require" => required.push(requirement(line, path)?),
            "go" => go_version = Some((single_arg(line, path)?, line.number)),
            "toolchain" => toolchain = Some((single_arg(line, path)?, line.number)),
            _ => {}
        }
    }
    for line in lines.iter().filter(|l| l.verb == "replace") {
        apply_replace(line, path, &mut required, &mut left_out)?;
    }
    let mut packages: Vec<Package> = Vec::new();
    for (package, _) in required {
        if !packages.iter().any(|p| p.name == package.name && p.version == package.version) {
            packages.push(package);
        }
    }
    let go = go_version.as_ref().map(|(v, _)| v.clone());
    if let Some(stdlib) = stdlib(go_version, toolchain) {
        packages.push(stdlib);
    }
    Ok((Parsed { packages, left_out }, go))
}

/// Splits `text` into directive lines (block lines get their block's verb).
fn directives<'a>(text: &'a str, path: &str) -> Result<Vec<Line<'a>>, FormatError> {
    let mut out = Vec::new();
    let mut block: Option<&'a str> = None;
    for (i, raw) in text.lines().enumerate() {
        let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let (code, comment) = split_comment(raw);
        let code = code.trim();
        if code.is_empty() {
            continue;
        }
        if block.is_some() && code == ")" {
            block = None;
            continue;
        }
        let (verb, rest) = match block {
            Some(verb) => (verb, code),
            None => {
                let (word, rest) = code.split_once(char::is_whitespace).unwrap_or((code, ""));
                let Some(verb) = VERBS.iter().find(|v| **v == word) else {
                    return Err(FormatError::new(path, Location::Line(number), format!("unknown directive `{word}`")));
                };
                let rest = rest.trim();
                if rest == "(" {
                    block = Some(verb);
                    continue;
                }
                if rest == "()" {
                    continue;
                }
                (*verb, rest)
            }
        };
        let args = tokens(rest).map_err(|why| FormatError::new(path, Location::Line(number), why))?;
        out.push(Line { verb, args, comment, number });
    }
    if block.is_some() {
        return Err(FormatError::new(path, Location::Document, "a block is not closed with `)`"));
    }
    Ok(out)
}

/// Splits a line at its `//` comment (outside quotes).
fn split_comment(line: &str) -> (&str, &str) {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q && (q == '`' || prev != '\\') => quote = None,
            Some(_) => {}
            None if c == '"' || c == '`' => quote = Some(c),
            None if c == '/' && prev == '/' => {
                let start = i.saturating_sub(1);
                return (line.get(..start).unwrap_or(line), line.get(i + 1..).unwrap_or(""));
            }
            None => {}
        }
        prev = c;
    }
    (line, "")
}

/// The whitespace-separated words of a directive, quoted strings unquoted.
fn tokens(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' || c == '`' {
            chars.next();
            let mut word = String::new();
            loop {
                match chars.next() {
                    None => return Err("a quoted string is not closed".to_string()),
                    Some(q) if q == c => break,
                    Some('\\') if c == '"' => word.extend(chars.next()),
                    Some(other) => word.push(other),
                }
            }
            out.push(word);
        } else {
            let mut word = String::new();
            while let Some(&w) = chars.peek() {
                if w.is_whitespace() {
                    break;
                }
                word.push(w);
                chars.next();
            }
            out.push(word);
        }
    }
    Ok(out)
}

/// The one argument of a `go` or `toolchain` directive.
fn single_arg(line: &Line<'_>, path: &str) -> Result<String, FormatError> {
    match line.args.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(FormatError::new(path, Location::Line(line.number), format!("`{}` takes one argument", line.verb))),
    }
}

/// A `require` line as a package (with its version as written, for `replace` to match).
fn requirement(line: &Line<'_>, path: &str) -> Result<(Package, String), FormatError> {
    let [name, version] = line.args.as_slice() else {
        return Err(FormatError::new(path, Location::Line(line.number), "`require` takes a module path and a version"));
    };
    let indirect = line.comment.split(';').any(|part| part.trim() == "indirect");
    let package = package(name, version, Some(!indirect), line.number)
        .ok_or_else(|| FormatError::new(path, Location::Line(line.number), format!("`{name}` is not a module path")))?;
    Ok((package, version.clone()))
}

/// A Go package; `None` if the purl cannot be built.
fn package(name: &str, version: &str, direct: Option<bool>, line: u32) -> Option<Package> {
    let version = version.strip_prefix('v').unwrap_or(version).to_string();
    let (namespace, short) = match name.rsplit_once('/') {
        Some((ns, short)) => (Some(ns), short),
        None => (None, name),
    };
    let purl = super::purl("golang", namespace, short, &version)?;
    Some(Package {
        ecosystem: "Go",
        name: name.to_string(),
        version,
        purl,
        groups: Vec::new(),
        direct,
        line: Some(line),
    })
}

/// Applies one `replace` line to the required modules it names.
fn apply_replace(
    line: &Line<'_>,
    path: &str,
    required: &mut Vec<(Package, String)>,
    left_out: &mut Vec<LeftOut>,
) -> Result<(), FormatError> {
    let args = line.args.as_slice();
    let arrow = args.iter().position(|a| a == "=>");
    let (old, new) = match arrow {
        Some(at) => (args.get(..at).unwrap_or(&[]), args.get(at + 1..).unwrap_or(&[])),
        None => (args, &[][..]),
    };
    let bad =
        || FormatError::new(path, Location::Line(line.number), "`replace` takes `old [version] => new [version]`");
    let (old_name, old_version) = match old {
        [name] => (name, None),
        [name, version] => (name, Some(version)),
        _ => return Err(bad()),
    };
    let (new_name, new_version) = match new {
        [name] => (name, None),
        [name, version] => (name, Some(version)),
        _ => return Err(bad()),
    };
    let matches = |(p, v): &(Package, String)| &p.name == old_name && old_version.is_none_or(|o| o == v);
    if !required.iter().any(matches) {
        return Ok(());
    }
    match new_version {
        Some(version) => {
            for entry in required.iter_mut().filter(|e| matches(e)) {
                let direct = entry.0.direct;
                let replaced = package(new_name, version, direct, line.number).ok_or_else(|| {
                    FormatError::new(path, Location::Line(line.number), format!("`{new_name}` is not a module path"))
                })?;
                *entry = (replaced, version.clone());
            }
        }
        None => {
            let entry = format!("{} => {new_name}", old.join(" "));
            left_out.push(LeftOut { entry, location: Location::Line(line.number), reason: LeftOutReason::Local });
            required.retain(|e| !matches(e));
        }
    }
    Ok(())
}

/// The standard library the `toolchain` (or else the `go`) directive pins.
fn stdlib(go_version: Option<(String, u32)>, toolchain: Option<(String, u32)>) -> Option<Package> {
    let (version, line) = match toolchain {
        Some((name, line)) => {
            let version = name.split('-').next().unwrap_or(&name);
            (version.strip_prefix("go").unwrap_or(version).to_string(), line)
        }
        None => go_version?,
    };
    if version.is_empty() {
        return None;
    }
    let purl = super::purl("golang", None, "stdlib", &version)?;
    Some(Package {
        ecosystem: "Go",
        name: "stdlib".to_string(),
        version,
        purl,
        groups: Vec::new(),
        direct: None,
        line: Some(line),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(parsed: &Parsed) -> Vec<(String, String, Option<bool>, Option<u32>)> {
        parsed.packages.iter().map(|p| (p.name.clone(), p.version.clone(), p.direct, p.line)).collect()
    }

    #[test]
    fn requires_indirect_and_stdlib() {
        let text = "module m\n\ngo 1.17\n\nrequire (\n\tgithub.com/BurntSushi/toml v1.0.0\n\tgolang.org/x/sys v0.1.0 // indirect\n)\nrequire gopkg.in/yaml.v2 v2.4.0\n";
        let parsed = parse(text, "go.mod").expect("parses");
        assert_eq!(
            names(&parsed),
            vec![
                ("github.com/BurntSushi/toml".into(), "1.0.0".into(), Some(true), Some(6)),
                ("golang.org/x/sys".into(), "0.1.0".into(), Some(false), Some(7)),
                ("gopkg.in/yaml.v2".into(), "2.4.0".into(), Some(true), Some(9)),
                ("stdlib".into(), "1.17".into(), None, Some(3)),
            ]
        );
        assert_eq!(parsed.packages[0].purl, "pkg:golang/github.com/burntsushi/toml@1.0.0");
        assert_eq!(parsed.packages[3].purl, "pkg:golang/stdlib@1.17");
    }

    #[test]
    fn toolchain_wins_over_go() {
        let parsed = parse("go 1.23.5\ntoolchain go1.23.6-xyz\n", "go.mod").expect("parses");
        assert_eq!(names(&parsed), vec![("stdlib".into(), "1.23.6".into(), None, Some(2))]);
    }

    #[test]
    fn replacements() {
        let text = "require (\n  a.com/x v1.2.3\n  a.com/x v0.5.6\n  b.com/y v1.0.0\n)\nreplace a.com/x => f.com/x v1.4.5\nreplace b.com/y v1.0.0 => ../y\nreplace c.com/z v1.0.0 => ./z\n";
        let parsed = parse(text, "go.mod").expect("parses");
        assert_eq!(names(&parsed), vec![("f.com/x".into(), "1.4.5".into(), Some(true), Some(6))]);
        assert_eq!(parsed.left_out.len(), 1);
        assert_eq!(parsed.left_out[0].entry, "b.com/y v1.0.0 => ../y");
        assert_eq!(parsed.left_out[0].reason, LeftOutReason::Local);
        assert_eq!(parsed.left_out[0].location, Location::Line(7));
    }

    #[test]
    fn errors_say_where() {
        let e = parse("module m\nthis is not a go.mod file!\n", "go.mod").expect_err("fails");
        assert_eq!(e.location, Location::Line(2));
        assert!(parse("require (\n a.com/x v1\n", "go.mod").is_err());
        assert!(parse("require a.com/x\n", "go.mod").is_err());
        assert!(parse("module \"unclosed\n", "go.mod").is_err());
        assert_eq!(parse("", "go.mod").expect("empty is fine"), Parsed::default());
    }

    #[test]
    fn go_sum_before_1_17() {
        let text = "module m\ngo 1.16\nrequire a.com/x v1.0.0\n";
        let sum = "a.com/x v1.0.0 h1:abc=\na.com/x v1.0.0/go.mod h1:def=\n\nb.com/y v0.2.0 h1:ghi=\n";
        let mut asked = Vec::new();
        let mut read = |name: &str| {
            asked.push(name.to_string());
            Ok(sum.to_string())
        };
        let parsed = parse_with_sum(text, "dir/go.mod", &mut read).expect("parses");
        assert_eq!(asked, vec!["go.sum".to_string()]);
        assert_eq!(
            names(&parsed),
            vec![
                ("a.com/x".into(), "1.0.0".into(), Some(true), Some(3)),
                ("stdlib".into(), "1.16".into(), None, Some(2)),
                ("b.com/y".into(), "0.2.0".into(), Some(false), Some(4)),
            ]
        );
        let newer = parse_with_sum("go 1.17\n", "go.mod", &mut |_| panic!("not read")).expect("parses");
        assert_eq!(newer.packages.len(), 1);
        let missing = parse_with_sum(text, "go.mod", &mut |p| Err(FormatError::new(p, Location::Document, "no")));
        assert_eq!(missing.expect("parses").packages.len(), 2);
        let bad = parse_with_sum(text, "go.mod", &mut |_| Ok("a.com/x\n".to_string())).expect_err("fails");
        assert_eq!((bad.path.as_str(), bad.location), ("go.sum", Location::Line(1)));
        assert!(
            before_go_1_17("1.16") && before_go_1_17("1.9rc1") && !before_go_1_17("1.21.0") && !before_go_1_17("x")
        );
    }

    #[test]
    fn quoted_paths_and_comments() {
        let text = "module \"m\" // the module\nrequire \"a.com/x\" v1.0.0 // indirect; reason\nexclude a.com/x v0.9.0\nretract [v1.0.0, v1.0.1]\n";
        let parsed = parse(text, "go.mod").expect("parses");
        assert_eq!(names(&parsed), vec![("a.com/x".into(), "1.0.0".into(), Some(false), Some(2))]);
    }
}
