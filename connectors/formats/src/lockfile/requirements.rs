//! `requirements.txt` (pip's requirements file format).
//!
//! Lines are read as pip reads them: a line ending in `\` continues on the next, a `#` at the
//! start or after whitespace starts a comment, and the first token starting with `-` ends the
//! requirement (per-requirement options such as `--hash` follow it). A requirement is parsed as
//! PEP 508; it is a package only when its one version specifier is `==` (no `.*`) or `===`.
//! Anything else is left out: ranges and bare names as [`LeftOutReason::Unpinned`], `-e`, paths
//! and archives as [`LeftOutReason::Local`], URLs and `name @ url` as [`LeftOutReason::Vcs`].
//!
//! `-r`/`--requirement` files are read through the caller's reader (paths relative to the
//! including file; each file once, so include cycles end); a file that cannot be read is an error
//! at the including line. `-c`/`--constraint` files add no packages: their `==` pins pin the
//! requirements that have none; one that cannot be read is left out. A package's name is as
//! written; its line is the first line of its requirement, or, for a package from an included
//! file, the line of the `-r` in this file.

use std::collections::{BTreeMap, BTreeSet};

use super::join;
use super::poetry::pypi_package;
use super::uv::normalize;
use super::{LeftOut, LeftOutReason, Package, Parsed};
use crate::error::{FormatError, Location};

/// Parses the requirements file `path` with text `text`; `read` fetches included files.
pub fn parse(
    text: &str,
    path: &str,
    read: &mut dyn FnMut(&str) -> Result<String, FormatError>,
) -> Result<Parsed, FormatError> {
    let own = path.rsplit(['/', '\\']).next().unwrap_or(path).to_string();
    let mut reader = Reader {
        read,
        top: path,
        visited: BTreeSet::from([own.clone()]),
        items: Vec::new(),
        constraints: BTreeMap::new(),
    };
    reader.file(text, &own, None)?;
    Ok(reader.finish())
}

/// What one requirement line gave, in file order.
enum Item {
    Package(Package),
    LeftOut(LeftOut),
    /// Not pinned here; a constraint may pin it.
    Unpinned {
        left_out: LeftOut,
        name: String,
        line: u32,
    },
}

/// Where an included file's entries are reported: the `-r` line in the top file.
type Origin = Option<u32>;

struct Reader<'r, 'p> {
    read: &'r mut dyn FnMut(&str) -> Result<String, FormatError>,
    top: &'p str,
    visited: BTreeSet<String>,
    items: Vec<Item>,
    /// Normalized name → version a constraints file pins.
    constraints: BTreeMap<String, String>,
}

/// An option line's include: `-r` or `-c`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Include {
    Requirements,
    Constraints,
}

impl Reader<'_, '_> {
    /// Reads one file (`rel`: its path relative to the top file's folder).
    fn file(&mut self, text: &str, rel: &str, origin: Origin) -> Result<(), FormatError> {
        for (line, content) in logical_lines(text) {
            let (args, options) = split_options(&content);
            if !args.is_empty() {
                let item = requirement(&args, line, rel, origin);
                self.items.push(item);
            } else if let Some(option) = options.first() {
                self.option(option, options.get(1..).unwrap_or_default(), line, rel, origin)?;
            }
        }
        Ok(())
    }

    fn option(&mut self, name: &str, rest: &[String], line: u32, rel: &str, origin: Origin) -> Result<(), FormatError> {
        let (option, value) = option_value(name, rest);
        let entry = || if rest.is_empty() { name.to_string() } else { format!("{name} {}", rest.join(" ")) };
        match option {
            "-r" | "--requirement" => self.include(Include::Requirements, value, line, rel, origin),
            "-c" | "--constraint" => self.include(Include::Constraints, value, line, rel, origin),
            "-e" | "--editable" => {
                let reason = if value.is_some_and(is_url) { LeftOutReason::Vcs } else { LeftOutReason::Local };
                self.items.push(Item::LeftOut(left_out(entry(), line, rel, origin, reason)));
                Ok(())
            }
            o if KNOWN_OPTIONS.contains(&o) => Ok(()),
            _ => {
                let reason = LeftOutReason::Other("an option pip does not know".to_string());
                self.items.push(Item::LeftOut(left_out(entry(), line, rel, origin, reason)));
                Ok(())
            }
        }
    }

    fn include(
        &mut self,
        kind: Include,
        value: Option<&str>,
        line: u32,
        rel: &str,
        origin: Origin,
    ) -> Result<(), FormatError> {
        let flag = if kind == Include::Requirements { "-r" } else { "-c" };
        let Some(written) = value.map(|v| v.trim_matches(['"', '\''])).filter(|v| !v.is_empty()) else {
            let reason = LeftOutReason::Other(format!("`{flag}` names no file"));
            self.items.push(Item::LeftOut(left_out(flag.to_string(), line, rel, origin, reason)));
            return Ok(());
        };
        let entry = format!("{flag} {written}");
        if is_url(written) {
            let reason = LeftOutReason::Other("a file at a URL is not fetched".to_string());
            self.items.push(Item::LeftOut(left_out(entry, line, rel, origin, reason)));
            return Ok(());
        }
        let target = join(rel, written);
        if !self.visited.insert(target.clone()) {
            return Ok(());
        }
        let text = match (self.read)(&target) {
            Ok(text) => text,
            Err(e) if kind == Include::Constraints => {
                let reason = LeftOutReason::Other(format!("cannot be read: {}", e.reason));
                self.items.push(Item::LeftOut(left_out(entry, line, rel, origin, reason)));
                return Ok(());
            }
            Err(e) => {
                let file = if origin.is_some() { rel } else { self.top };
                return Err(FormatError::new(file, Location::Line(line), format!("cannot read `{entry}`: {e}")));
            }
        };
        match kind {
            Include::Requirements => self.file(&text, &target, Some(origin.unwrap_or(line))),
            Include::Constraints => {
                self.constraints_file(&text);
                Ok(())
            }
        }
    }

    /// Notes the `==` pins of a constraints file (first pin of a name wins).
    fn constraints_file(&mut self, text: &str) {
        for (_, content) in logical_lines(text) {
            let (args, _) = split_options(&content);
            if let Ok(req) = pep508::parse(&args)
                && let Some(version) = req.pinned()
            {
                self.constraints.entry(normalize(req.name)).or_insert_with(|| version.to_string());
            }
        }
    }

    fn finish(self) -> Parsed {
        let mut parsed = Parsed::default();
        for item in self.items {
            match item {
                Item::Package(p) => parsed.packages.push(p),
                Item::LeftOut(l) => parsed.left_out.push(l),
                Item::Unpinned { left_out, name, line } => {
                    let pinned = self.constraints.get(&normalize(&name)).cloned();
                    match pinned.map(|v| pypi_package(name, v, Vec::new(), None, Some(line))) {
                        Some(Ok(p)) => parsed.packages.push(p),
                        _ => parsed.left_out.push(left_out),
                    }
                }
            }
        }
        parsed
    }
}

/// Global and per-requirement options pip takes that say nothing about packages here.
const KNOWN_OPTIONS: &[&str] = &[
    "-i",
    "--index-url",
    "--extra-index-url",
    "--no-index",
    "-f",
    "--find-links",
    "--pre",
    "--trusted-host",
    "--prefer-binary",
    "--require-hashes",
    "--only-binary",
    "--no-binary",
    "--use-feature",
    "-Z",
    "--always-unzip",
    "--hash",
    "--global-option",
    "--install-option",
    "--config-settings",
    "-C",
    "--process-dependency-links",
];

/// An option and its value, from `-rfile`, `--requirement=file` or `-r file`.
fn option_value<'a>(token: &'a str, rest: &'a [String]) -> (&'a str, Option<&'a str>) {
    if let Some((option, value)) = token.split_once('=').filter(|(o, _)| o.starts_with("--")) {
        return (option, Some(value));
    }
    if !token.starts_with("--")
        && token.len() > 2
        && let (Some(option), Some(value)) = (token.get(..2), token.get(2..))
    {
        return (option, Some(value));
    }
    (token, rest.first().map(String::as_str))
}

/// A left-out entry; one from an included file is placed at the `-r` line and names its file.
fn left_out(entry: String, line: u32, rel: &str, origin: Origin, reason: LeftOutReason) -> LeftOut {
    match origin {
        None => LeftOut { entry, location: Location::Line(line), reason },
        Some(at) => LeftOut { entry: format!("{entry} ({rel}:{line})"), location: Location::Line(at), reason },
    }
}

/// What the requirement `args` (line `line` of `rel`) gives.
fn requirement(args: &str, line: u32, rel: &str, origin: Origin) -> Item {
    let leave = |reason| Item::LeftOut(left_out(args.to_string(), line, rel, origin, reason));
    if args.contains("${") {
        return leave(LeftOutReason::Other("an environment variable pip would expand".to_string()));
    }
    if let Some(reason) = link_reason(args) {
        return leave(reason);
    }
    let req = match pep508::parse(args) {
        Ok(req) => req,
        Err(why) => return leave(LeftOutReason::Other(format!("not a valid requirement: {why}"))),
    };
    if let Some(url) = req.url {
        return leave(if is_local_url(url) { LeftOutReason::Local } else { LeftOutReason::Vcs });
    }
    let at = origin.unwrap_or(line);
    match req.pinned() {
        Some(version) => match pypi_package(req.name.to_string(), version.to_string(), Vec::new(), None, Some(at)) {
            Ok(p) => Item::Package(p),
            Err(why) => leave(LeftOutReason::Other(why)),
        },
        None => Item::Unpinned {
            left_out: left_out(args.to_string(), line, rel, origin, LeftOutReason::Unpinned),
            name: req.name.to_string(),
            line: at,
        },
    }
}

/// Why a requirement that is a URL, a path or an archive (not `name @ url`) is left out.
fn link_reason(args: &str) -> Option<LeftOutReason> {
    if is_url(args) {
        return Some(if is_local_url(args) { LeftOutReason::Local } else { LeftOutReason::Vcs });
    }
    let before_at = args.split('@').next().unwrap_or(args);
    let looks_like_path = |s: &str| s.contains(['/', '\\']) || s.starts_with(['.', '~']);
    let archive = [".zip", ".whl", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar"]
        .iter()
        .any(|ext| args.to_ascii_lowercase().ends_with(ext));
    (looks_like_path(before_at) || (archive && !args.contains('@'))).then_some(LeftOutReason::Local)
}

/// Whether `s` starts with a URL scheme (`https://`, `git+ssh://`, `file:`).
fn is_url(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else { return false };
    let scheme_ok = scheme.len() > 1
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    scheme_ok && (rest.starts_with("//") || scheme.eq_ignore_ascii_case("file"))
}

fn is_local_url(url: &str) -> bool {
    url.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("file:"))
}

/// The logical lines of a file, as pip's `join_lines` and `ignore_comments` make them: each with
/// the 1-based line it starts on, comments removed, trimmed, empty ones dropped.
fn logical_lines(text: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(u32, String)> = None;
    for (i, raw) in text.split('\n').enumerate() {
        let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let comment_line = raw.trim_start().starts_with('#');
        if raw.ends_with('\\') && !comment_line {
            let (_, joined) = pending.get_or_insert_with(|| (number, String::new()));
            joined.push_str(raw.trim_matches('\\'));
            continue;
        }
        let (start, mut joined) = pending.take().unwrap_or((number, String::new()));
        if comment_line && !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(raw);
        out.push((start, joined));
    }
    if let Some(last) = pending {
        out.push(last);
    }
    out.into_iter()
        .filter_map(|(n, l)| {
            let l = strip_comment(&l).trim().to_string();
            (!l.is_empty()).then_some((n, l))
        })
        .collect()
}

/// `line` without a comment: from a `#` at the start or after whitespace, with that whitespace.
fn strip_comment(line: &str) -> &str {
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_space {
            return line.get(..i).unwrap_or(line);
        }
        prev_space = c.is_whitespace();
    }
    line
}

/// A logical line split as pip's `break_args_options` does: the requirement (tokens before the
/// first one starting with `-`, joined by one space) and the option tokens.
fn split_options(line: &str) -> (String, Vec<String>) {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let first_option = tokens.iter().position(|t| t.starts_with('-')).unwrap_or(tokens.len());
    let (args, options) = tokens.split_at(first_option);
    (args.join(" "), options.iter().map(|s| s.to_string()).collect())
}

/// A PEP 508 requirement parser, as strict as Python's `packaging` about names and versions.
mod pep508 {
    /// A parsed requirement.
    #[derive(Debug, PartialEq, Eq)]
    pub(super) struct Requirement<'a> {
        /// The distribution name as written.
        pub name: &'a str,
        /// The version specifiers (operator, version), in order.
        pub specs: Vec<(&'a str, &'a str)>,
        /// The URL of a `name @ url` requirement.
        pub url: Option<&'a str>,
    }

    impl<'a> Requirement<'a> {
        /// The version, when the only specifier is `===` or a `==` without `.*`.
        pub(super) fn pinned(&self) -> Option<&'a str> {
            match self.specs.as_slice() {
                [("===", v)] => Some(v),
                [("==", v)] if !v.ends_with(".*") => Some(v),
                _ => None,
            }
        }
    }

    struct Cursor<'a> {
        s: &'a str,
        pos: usize,
    }

    impl<'a> Cursor<'a> {
        fn rest(&self) -> &'a str {
            self.s.get(self.pos..).unwrap_or("")
        }
        fn ws(&mut self) {
            let rest = self.rest();
            self.pos += rest.len() - rest.trim_start().len();
        }
        fn eat(&mut self, token: &str) -> bool {
            let found = self.rest().starts_with(token);
            if found {
                self.pos += token.len();
            }
            found
        }
        fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
            let rest = self.rest();
            let len = rest.find(|c: char| !f(c)).unwrap_or(rest.len());
            self.pos += len;
            rest.get(..len).unwrap_or("")
        }
    }

    /// Parses `s` (no comment, no options) as a PEP 508 requirement.
    pub(super) fn parse(s: &str) -> Result<Requirement<'_>, String> {
        let mut c = Cursor { s, pos: 0 };
        c.ws();
        let name = c.take_while(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-' | '_'));
        if !valid_name(name) {
            return Err(format!("`{name}` is not a valid name"));
        }
        c.ws();
        if c.eat("[") {
            extras(&mut c)?;
            c.ws();
        }
        if c.eat("@") {
            c.ws();
            let url = c.take_while(|ch| !ch.is_whitespace());
            if url.is_empty() {
                return Err("`@` without a URL".to_string());
            }
            c.ws();
            marker_tail(&mut c)?;
            return Ok(Requirement { name, specs: Vec::new(), url: Some(url) });
        }
        let specs = specifiers(&mut c)?;
        marker_tail(&mut c)?;
        Ok(Requirement { name, specs, url: None })
    }

    fn valid_name(name: &str) -> bool {
        let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        edge(name.chars().next()) && edge(name.chars().last())
    }

    fn extras(c: &mut Cursor<'_>) -> Result<(), String> {
        loop {
            c.ws();
            if c.eat("]") {
                return Ok(());
            }
            let extra = c.take_while(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-' | '_'));
            if !valid_name(extra) {
                return Err("a malformed extra".to_string());
            }
            c.ws();
            if !c.eat(",") && !c.rest().starts_with(']') {
                return Err("extras not closed by `]`".to_string());
            }
        }
    }

    fn specifiers<'a>(c: &mut Cursor<'a>) -> Result<Vec<(&'a str, &'a str)>, String> {
        let paren = c.eat("(");
        let mut specs = Vec::new();
        loop {
            c.ws();
            let Some(op) = ["===", "==", "!=", "~=", "<=", ">=", "<", ">"].into_iter().find(|op| c.eat(op)) else {
                break;
            };
            c.ws();
            let version = if op == "===" {
                c.take_while(|ch| !ch.is_whitespace() && ch != ';' && ch != ')' && ch != ',')
            } else {
                c.take_while(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '*' | '+' | '!' | '-' | '_'))
            };
            if !super::pep440::valid_spec(op, version) {
                return Err(format!("`{op}{version}` is not a valid version specifier"));
            }
            specs.push((op, version));
            c.ws();
            if !c.eat(",") {
                break;
            }
        }
        if paren && !c.eat(")") {
            return Err("`(` not closed".to_string());
        }
        if specs.is_empty() && !c.rest().trim().is_empty() && !c.rest().trim_start().starts_with(';') {
            return Err(format!("unexpected `{}`", c.rest().trim()));
        }
        Ok(specs)
    }

    /// The rest: nothing, or `;` and a marker.
    fn marker_tail(c: &mut Cursor<'_>) -> Result<(), String> {
        c.ws();
        if c.rest().is_empty() {
            return Ok(());
        }
        if !c.eat(";") {
            return Err(format!("unexpected `{}`", c.rest()));
        }
        super::marker::validate(c.rest())
    }
}

/// PEP 440 versions in specifiers, as `packaging.specifiers.Specifier` accepts them.
mod pep440 {
    /// Whether `version` may follow `op` (`==`, `~=`, ...; not `===`, which takes anything).
    pub(super) fn valid_spec(op: &str, version: &str) -> bool {
        if op == "===" {
            return !version.is_empty();
        }
        let lower = version.to_ascii_lowercase();
        let (public, local) = match lower.split_once('+') {
            Some((p, l)) => (p, Some(l)),
            None => (lower.as_str(), None),
        };
        let wildcard = public.ends_with(".*");
        let public = public.strip_suffix(".*").unwrap_or(public);
        let eq = matches!(op, "==" | "!=");
        if (wildcard || local.is_some()) && !eq || wildcard && local.is_some() {
            return false;
        }
        if local.is_some_and(|l| !valid_local(l)) {
            return false;
        }
        let Some(release_len) = parse_public(public, wildcard) else { return false };
        op != "~=" || release_len >= 2
    }

    fn valid_local(local: &str) -> bool {
        local.split(['.', '-', '_']).all(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric()))
    }

    /// Parses `v? [N!] N(.N)* [pre] [post] [dev]` (only the release if `release_only`); the number
    /// of release components, or `None`.
    fn parse_public(s: &str, release_only: bool) -> Option<usize> {
        let s = s.strip_prefix('v').unwrap_or(s);
        let s = match s.split_once('!') {
            Some((epoch, rest)) if digits(epoch) => rest,
            Some(_) => return None,
            None => s,
        };
        let release_end = release_end(s);
        let release = s.get(..release_end)?;
        let components = release.split('.').count();
        if release.is_empty() || !release.split('.').all(digits) {
            return None;
        }
        let mut rest = s.get(release_end..)?;
        if release_only {
            return rest.is_empty().then_some(components);
        }
        for (labels, implicit) in [
            (&["alpha", "beta", "preview", "pre", "rc", "a", "b", "c"][..], false),
            (&["post", "rev", "r"][..], true),
            (&["dev"][..], false),
        ] {
            rest = suffix(rest, labels, implicit);
        }
        rest.is_empty().then_some(components)
    }

    /// The end of a run of digits and dots that ends in a digit.
    fn release_end(s: &str) -> usize {
        let mut end = 0;
        for (i, c) in s.char_indices() {
            if c.is_ascii_digit() {
                end = i + 1;
            } else if c != '.' || !s.get(i + 1..).is_some_and(|r| r.starts_with(|d: char| d.is_ascii_digit())) {
                break;
            }
        }
        end
    }

    /// `s` after an optional `[-_.]? label [-_.]? digits*` segment (or `-N` for an implicit post).
    fn suffix<'a>(s: &'a str, labels: &[&str], implicit_post: bool) -> &'a str {
        if implicit_post && let Some(n) = s.strip_prefix('-') {
            let end = n.find(|c: char| !c.is_ascii_digit()).unwrap_or(n.len());
            if end > 0 {
                return n.get(end..).unwrap_or("");
            }
        }
        let body = s.strip_prefix(['-', '_', '.']).unwrap_or(s);
        let Some(after) = labels.iter().find_map(|l| body.strip_prefix(l)) else { return s };
        let after_sep = after.strip_prefix(['-', '_', '.']);
        let num = after_sep.unwrap_or(after);
        let end = num.find(|c: char| !c.is_ascii_digit()).unwrap_or(num.len());
        if after_sep.is_some() && end == 0 {
            return after;
        }
        num.get(end..).unwrap_or("")
    }

    fn digits(s: &str) -> bool {
        !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
    }
}

/// PEP 508 environment markers: validated, not evaluated.
mod marker {
    const VARIABLES: &[&str] = &[
        "python_version",
        "python_full_version",
        "os_name",
        "sys_platform",
        "platform_release",
        "platform_system",
        "platform_version",
        "platform_machine",
        "platform_python_implementation",
        "implementation_name",
        "implementation_version",
        "extra",
        "extras",
        "dependency_groups",
        "os.name",
        "sys.platform",
        "platform.version",
        "platform.machine",
        "platform.python_implementation",
        "python_implementation",
    ];

    #[derive(Debug, PartialEq)]
    enum Tok<'a> {
        Var,
        Str,
        Op,
        Word(&'a str),
        Open,
        Close,
    }

    /// `Ok` if `s` is a marker expression.
    pub(super) fn validate(s: &str) -> Result<(), String> {
        let toks = tokens(s)?;
        let mut pos = 0;
        or_expr(&toks, &mut pos)?;
        if pos == toks.len() { Ok(()) } else { Err(format!("a malformed marker `{}`", s.trim())) }
    }

    fn tokens(s: &str) -> Result<Vec<Tok<'_>>, String> {
        let mut out = Vec::new();
        let mut rest = s.trim_start();
        while let Some(c) = rest.chars().next() {
            let len = match c {
                '(' | ')' => {
                    out.push(if c == '(' { Tok::Open } else { Tok::Close });
                    1
                }
                '\'' | '"' => {
                    let end = rest.get(1..).and_then(|r| r.find(c)).ok_or("a marker string not closed")?;
                    out.push(Tok::Str);
                    end + 2
                }
                '<' | '>' | '=' | '!' | '~' => {
                    let op = ["===", "==", "!=", "~=", "<=", ">=", "<", ">"]
                        .into_iter()
                        .find(|op| rest.starts_with(op))
                        .ok_or_else(|| format!("a malformed marker operator in `{}`", s.trim()))?;
                    out.push(Tok::Op);
                    op.len()
                }
                _ => {
                    let len =
                        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).unwrap_or(rest.len());
                    let word = rest.get(..len).unwrap_or("");
                    match word {
                        "" => return Err(format!("unexpected `{c}` in a marker")),
                        w if VARIABLES.contains(&w) => out.push(Tok::Var),
                        "and" | "or" | "in" | "not" => out.push(Tok::Word(word)),
                        w => return Err(format!("`{w}` is not a marker variable")),
                    }
                    len
                }
            };
            rest = rest.get(len..).unwrap_or("").trim_start();
        }
        Ok(out)
    }

    fn or_expr(t: &[Tok<'_>], pos: &mut usize) -> Result<(), String> {
        and_expr(t, pos)?;
        while t.get(*pos) == Some(&Tok::Word("or")) {
            *pos += 1;
            and_expr(t, pos)?;
        }
        Ok(())
    }

    fn and_expr(t: &[Tok<'_>], pos: &mut usize) -> Result<(), String> {
        atom(t, pos)?;
        while t.get(*pos) == Some(&Tok::Word("and")) {
            *pos += 1;
            atom(t, pos)?;
        }
        Ok(())
    }

    fn atom(t: &[Tok<'_>], pos: &mut usize) -> Result<(), String> {
        if t.get(*pos) == Some(&Tok::Open) {
            *pos += 1;
            or_expr(t, pos)?;
            return if t.get(*pos) == Some(&Tok::Close) {
                *pos += 1;
                Ok(())
            } else {
                Err("a marker `(` not closed".to_string())
            };
        }
        value(t, pos)?;
        match (t.get(*pos), t.get(*pos + 1)) {
            (Some(Tok::Op), _) | (Some(Tok::Word("in")), _) => *pos += 1,
            (Some(Tok::Word("not")), Some(Tok::Word("in"))) => *pos += 2,
            _ => return Err("a marker comparison without an operator".to_string()),
        }
        value(t, pos)
    }

    fn value(t: &[Tok<'_>], pos: &mut usize) -> Result<(), String> {
        match t.get(*pos) {
            Some(Tok::Var | Tok::Str) => {
                *pos += 1;
                Ok(())
            }
            _ => Err("a marker comparison without a value".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_includes(p: &str) -> Result<String, FormatError> {
        Err(FormatError::new(p, Location::Document, "no such file"))
    }

    fn parse_one(text: &str) -> Parsed {
        parse(text, "dir/requirements.txt", &mut no_includes).expect("parses")
    }

    fn pins(parsed: &Parsed) -> Vec<(&str, &str, Option<u32>)> {
        parsed.packages.iter().map(|p| (p.name.as_str(), p.version.as_str(), p.line)).collect()
    }

    fn reasons(parsed: &Parsed) -> Vec<(&str, LeftOutReason, Location)> {
        parsed.left_out.iter().map(|l| (l.entry.as_str(), l.reason.clone(), l.location.clone())).collect()
    }

    #[test]
    fn pins_extras_markers_hashes_and_continuations() {
        let text = "# c\nA_b[x, y] == 1.0 ; python_version < \"3.8\" --hash=sha256:1 \\\n  --hash=sha256:2\nyolo===1.0+odd\nfoo==1.0 --hash=sha256:x_;#\nbar==2 # comment\nv==v1.0.post1.dev2\n";
        let parsed = parse_one(text);
        assert_eq!(
            pins(&parsed),
            vec![
                ("A_b", "1.0", Some(2)),
                ("yolo", "1.0+odd", Some(4)),
                ("foo", "1.0", Some(5)),
                ("bar", "2", Some(6)),
                ("v", "v1.0.post1.dev2", Some(7))
            ]
        );
        assert_eq!(parsed.packages[0].purl, "pkg:pypi/a-b@1.0");
        assert!(parsed.left_out.is_empty(), "{:?}", parsed.left_out);
    }

    #[test]
    fn unpinned_links_and_invalid_are_left_out() {
        let text = "requests>=2\nflask\nx==1.*\ny==1,!=1.1\n-e .\n-e git+https://g/x#egg=x\n./a.whl\nb.tar.gz\nz @ https://h/z.zip\nw @ file:///w\nhttps://h/p.whl\nasdf==\nq==${V}\nfoo7==1.0 junk\n--index-url https://i\n-x y\n";
        let parsed = parse_one(text);
        assert!(parsed.packages.is_empty(), "{:?}", parsed.packages);
        let got: Vec<_> = reasons(&parsed).into_iter().map(|(e, r, _)| (e, r)).collect();
        let other = |s: &str| matches!(s, "asdf==" | "q==${V}" | "foo7==1.0 junk" | "-x y");
        for (entry, reason) in &got {
            let want = match *entry {
                "requests>=2" | "flask" | "x==1.*" | "y==1,!=1.1" => LeftOutReason::Unpinned,
                "-e ." | "./a.whl" | "b.tar.gz" | "w @ file:///w" => LeftOutReason::Local,
                "-e git+https://g/x#egg=x" | "z @ https://h/z.zip" | "https://h/p.whl" => LeftOutReason::Vcs,
                e if other(e) => {
                    assert!(matches!(reason, LeftOutReason::Other(_)), "{e}: {reason:?}");
                    continue;
                }
                e => panic!("unexpected left out {e}"),
            };
            assert_eq!(reason, &want, "{entry}");
        }
        assert_eq!(got.len(), 15);
    }

    #[test]
    fn includes_cycles_and_constraints() {
        let files = BTreeMap::from([
            ("dir/sub/more.txt", "pandas==2.2.3\n-r ../requirements.txt\n-r ./deeper.txt\nloose>=1\n"),
            ("dir/sub/deeper.txt", "six==1.0\n"),
            ("dir/constraints.txt", "Flask==3.0.0\nrequests>=2\n"),
        ]);
        let mut read = |p: &str| {
            let full = format!("dir/{p}");
            files
                .get(full.as_str())
                .map(|s| s.to_string())
                .ok_or_else(|| FormatError::new(p, Location::Document, "missing"))
        };
        let text = "first==1\n-r sub/more.txt\nflask\n--constraint=constraints.txt\n-c missing.txt\nrequests\n";
        let parsed = parse(text, "dir/requirements.txt", &mut read).expect("parses");
        assert_eq!(
            pins(&parsed),
            vec![
                ("first", "1", Some(1)),
                ("pandas", "2.2.3", Some(2)),
                ("six", "1.0", Some(2)),
                ("flask", "3.0.0", Some(3))
            ]
        );
        let got = reasons(&parsed);
        assert_eq!(got[0], ("loose>=1 (sub/more.txt:4)", LeftOutReason::Unpinned, Location::Line(2)));
        assert!(matches!(&got[1], ("-c missing.txt", LeftOutReason::Other(_), Location::Line(5))), "{got:?}");
        assert_eq!(got[2], ("requests", LeftOutReason::Unpinned, Location::Line(6)));
    }

    #[test]
    fn a_missing_requirements_file_is_an_error_at_its_line() {
        let err = parse("a==1\n\n-r other.txt\n", "x/requirements.txt", &mut no_includes).expect_err("fails");
        assert_eq!((err.path.as_str(), &err.location), ("x/requirements.txt", &Location::Line(3)));
        assert!(err.reason.contains("-r other.txt"), "{err}");
    }

    #[test]
    fn logical_lines_follow_pip() {
        let got = logical_lines("a \\\n  b\n# c \\\nd\\\n#e\n  # f\ng#h\ni #j\nlast\\");
        let want = [(1, "a   b"), (4, "d"), (7, "g#h"), (8, "i"), (9, "last")];
        assert_eq!(got, want.map(|(n, s)| (n, s.to_string())));
    }

    #[test]
    fn joins_relative_paths() {
        assert_eq!(join("requirements.txt", "a/b.txt"), "a/b.txt");
        assert_eq!(join("a/b.txt", "../c.txt"), "c.txt");
        assert_eq!(join("a/b.txt", "./../../c.txt"), "../c.txt");
        assert_eq!(join("a/b.txt", "/abs/c.txt"), "/abs/c.txt");
    }

    #[test]
    fn versions_as_packaging_takes_them() {
        for ok in ["1", "1.2-alpha", "1.0rc1", "1!2.0", "1.0.post1", "1.0-1", "1.0.dev0", "2.8.*", "1.0+local.7"] {
            assert!(pep440::valid_spec("==", ok), "{ok}");
        }
        for bad in ["", "1.", "a", "1.0+", "1.*.0", "1.0 x", "2.8.*+l"] {
            assert!(!pep440::valid_spec("==", bad), "{bad}");
        }
        assert!(!pep440::valid_spec(">=", "1.*"));
        assert!(!pep440::valid_spec("~=", "1"));
        assert!(pep440::valid_spec("~=", "1.1"));
        assert!(!pep440::valid_spec("<", "1.0+l"));
    }

    #[test]
    fn markers_are_validated() {
        assert!(marker::validate(r#"python_version < "2.7" and (os_name == 'nt' or extra not in "x")"#).is_ok());
        assert!(marker::validate("garbage").is_err());
        assert!(marker::validate(r#"python_version <"#).is_err());
        assert!(marker::validate(r#"(python_version < "3""#).is_err());
    }
}
