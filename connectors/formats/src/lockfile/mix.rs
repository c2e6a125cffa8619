//! `mix.lock` (Elixir): an Elixir map literal from dependency name to a tuple,
//! `{:hex, :package, "1.2.3", "hash", [:mix], [deps...], "hexpm", "hash"}` for a Hex package or
//! `{:git, "url", "sha", [opts]}` for a git checkout. A small, tolerant reader of Elixir terms
//! (maps, tuples, lists, keyword pairs, strings, atoms, numbers) reads it; Hex packages are
//! packages (named by the Hex package, the tuple's second element), git ones are left out. The line
//! of a package is the line of its key.

use super::{LeftOut, LeftOutReason, Package, Parsed};
use crate::error::{FormatError, Location};

/// How deep terms may nest before the input is refused.
const MAX_DEPTH: usize = 64;

/// An Elixir term, as far as `mix.lock` needs one.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    /// `%{k => v}` or `%{"k": v}`, entries with the line of their key.
    Map(Vec<(Term, Term, u32)>),
    /// `{a, b}`.
    Tuple(Vec<Term>),
    /// `[a, b]` (a keyword pair `k: v` is the tuple `{:k, v}`).
    List(Vec<Term>),
    /// `"text"`.
    Str(String),
    /// `:name`, `:"name"`, `true`, `nil`.
    Atom(String),
    /// A number or other bare word, as written.
    Word(String),
}

/// Parses the file `path` with text `text`.
pub fn parse(text: &str, path: &str) -> Result<Parsed, FormatError> {
    let mut reader = Reader { text, pos: 0, path, counted: (0, 1) };
    reader.skip_space();
    if reader.pos >= text.len() {
        return Ok(Parsed::default());
    }
    let Term::Map(entries) = reader.term(0)? else {
        return Err(reader.error("a mix.lock is a map `%{...}`"));
    };
    reader.skip_space();
    if reader.pos < text.len() {
        return Err(reader.error("text after the map"));
    }
    let mut parsed = Parsed::default();
    for (key, value, line) in entries {
        add(&mut parsed, key, value, line, path)?;
    }
    Ok(parsed)
}

/// Adds one entry of the map.
fn add(parsed: &mut Parsed, key: Term, value: Term, line: u32, path: &str) -> Result<(), FormatError> {
    let key = match key {
        Term::Str(s) | Term::Atom(s) => s,
        other => {
            return Err(FormatError::new(path, Location::Line(line), format!("a key that is not a name: {other:?}")));
        }
    };
    let location = Location::Line(line);
    let items = match value {
        Term::Tuple(items) => items,
        _ => {
            let reason = LeftOutReason::Other("not a `{:hex, ...}` tuple".to_string());
            parsed.left_out.push(LeftOut { entry: key, location, reason });
            return Ok(());
        }
    };
    match (items.first(), items.get(1), items.get(2)) {
        (Some(Term::Atom(scm)), Some(Term::Atom(name)), Some(Term::Str(version))) if scm == "hex" => {
            let purl = super::purl("hex", None, name, version)
                .ok_or_else(|| FormatError::new(path, location, format!("`{name}` is not a Hex package name")))?;
            parsed.packages.push(Package {
                ecosystem: "Hex",
                name: name.clone(),
                version: version.clone(),
                purl,
                groups: Vec::new(),
                direct: None,
                line: Some(line),
            });
        }
        (Some(Term::Atom(scm)), ..) if scm == "git" => {
            parsed.left_out.push(LeftOut { entry: key, location, reason: LeftOutReason::Vcs });
        }
        (Some(Term::Atom(scm)), ..) if scm == "path" => {
            parsed.left_out.push(LeftOut { entry: key, location, reason: LeftOutReason::Local });
        }
        _ => {
            let reason = LeftOutReason::Other("neither a Hex package nor a git checkout".to_string());
            parsed.left_out.push(LeftOut { entry: key, location, reason });
        }
    }
    Ok(())
}

/// A cursor over the text of a `mix.lock`.
struct Reader<'a> {
    text: &'a str,
    pos: usize,
    path: &'a str,
    /// A position already counted and its line, so that lines are counted once.
    counted: (usize, u32),
}

impl Reader<'_> {
    /// An error at the cursor.
    fn error(&self, why: &str) -> FormatError {
        let (line, column) = crate::error::line_column(self.text, self.pos);
        FormatError::new(self.path, Location::LineColumn(line, column), why)
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// The 1-based line of the cursor (counting on from the last position asked).
    fn line(&mut self) -> u32 {
        let (from, line) = self.counted;
        let (from, line) = if from <= self.pos { (from, line) } else { (0, 1) };
        let newlines = self.text.as_bytes().get(from..self.pos).unwrap_or(&[]).iter().filter(|&&b| b == b'\n').count();
        let line = line.saturating_add(u32::try_from(newlines).unwrap_or(u32::MAX));
        self.counted = (self.pos, line);
        line
    }

    /// Skips whitespace and `#` comments.
    fn skip_space(&mut self) {
        while let Some(b) = self.peek() {
            if b.is_ascii_whitespace() {
                self.pos += 1;
            } else if b == b'#' {
                while self.peek().is_some_and(|b| b != b'\n') {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// Consumes `token` (after space) if it is next.
    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.text.get(self.pos..).is_some_and(|rest| rest.starts_with(token)) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    /// One term.
    fn term(&mut self, depth: usize) -> Result<Term, FormatError> {
        if depth > MAX_DEPTH {
            return Err(self.error("terms nest too deep"));
        }
        self.skip_space();
        match self.peek() {
            Some(b'%') if self.eat("%{") => self.map(depth),
            Some(b'{') => {
                self.pos += 1;
                Ok(Term::Tuple(self.items(b'}', depth)?))
            }
            Some(b'[') => {
                self.pos += 1;
                Ok(Term::List(self.items(b']', depth)?))
            }
            Some(b'"') => Ok(Term::Str(self.string()?)),
            Some(b':') => {
                self.pos += 1;
                if self.peek() == Some(b'"') { Ok(Term::Atom(self.string()?)) } else { Ok(Term::Atom(self.word())) }
            }
            Some(_) => {
                let word = self.word();
                if word.is_empty() {
                    return Err(self.error("an unexpected character"));
                }
                if matches!(word.as_str(), "true" | "false" | "nil") {
                    Ok(Term::Atom(word))
                } else {
                    Ok(Term::Word(word))
                }
            }
            None => Err(self.error("the text ends inside a term")),
        }
    }

    /// The entries of a map, after `%{`.
    fn map(&mut self, depth: usize) -> Result<Term, FormatError> {
        let mut entries = Vec::new();
        loop {
            if self.eat("}") {
                return Ok(Term::Map(entries));
            }
            self.skip_space();
            let line = self.line();
            let (key, value) = self.pair(depth)?;
            let value = match value {
                Some(v) => v,
                None if self.eat("=>") => self.term(depth + 1)?,
                None => return Err(self.error("want `=>` or `key:` in a map")),
            };
            entries.push((key, value, line));
            if !self.eat(",") {
                self.skip_space();
                if !self.eat("}") {
                    return Err(self.error("want `,` or `}`"));
                }
                return Ok(Term::Map(entries));
            }
        }
    }

    /// A term, or a keyword pair `key: value` (returned with its value).
    fn pair(&mut self, depth: usize) -> Result<(Term, Option<Term>), FormatError> {
        self.skip_space();
        let start = self.pos;
        let key = match self.peek() {
            Some(b'"') => Term::Str(self.string()?),
            Some(b) if b.is_ascii_alphabetic() || b == b'_' => Term::Atom(self.word()),
            _ => return Ok((self.term(depth + 1)?, None)),
        };
        if self.peek() == Some(b':') && self.text.as_bytes().get(self.pos + 1).is_some_and(u8::is_ascii_whitespace) {
            self.pos += 1;
            let value = self.term(depth + 1)?;
            return Ok((key, Some(value)));
        }
        self.pos = start;
        Ok((self.term(depth + 1)?, None))
    }

    /// The items of a tuple or list up to `close`.
    fn items(&mut self, close: u8, depth: usize) -> Result<Vec<Term>, FormatError> {
        let close_str = if close == b'}' { "}" } else { "]" };
        let mut items = Vec::new();
        loop {
            if self.eat(close_str) {
                return Ok(items);
            }
            let item = match self.pair(depth)? {
                (key, Some(value)) => Term::Tuple(vec![key, value]),
                (term, None) => term,
            };
            items.push(item);
            if !self.eat(",") {
                if !self.eat(close_str) {
                    return Err(self.error(&format!("want `,` or `{close_str}`")));
                }
                return Ok(items);
            }
        }
    }

    /// A double-quoted string at the cursor, unescaped.
    fn string(&mut self) -> Result<String, FormatError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let rest = self.text.get(self.pos..).unwrap_or("");
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, other)) => out.push(other),
                    None => break,
                },
                other => out.push(other),
            }
        }
        self.pos = start;
        Err(self.error("a string is not closed"))
    }

    /// A bare word (atom name, number, alias) at the cursor; may be empty.
    fn word(&mut self) -> String {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'?' | b'!' | b'@' | b'-' | b'+'))
        {
            self.pos += 1;
        }
        self.text.get(start..self.pos).unwrap_or("").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"%{
  "plug": {:hex, :plug, "1.11.1", "f299", [:mix], [{:mime, "~> 1.0", [hex: :mime, repo: "hexpm", optional: false]}], "hexpm", "2352"},
  "my_app": {:hex, :other_name, "0.2.0-rc.1", "abcd", [:rebar3], [], "hexpm", "ef01"},
  # a comment
  "foo": {:git, "https://github.com/my-org/foo.git", "fc94cce", [branch: "feat/x"]},
}
"#;

    #[test]
    fn hex_and_git() {
        let parsed = parse(LOCK, "mix.lock").expect("parses");
        let got: Vec<_> =
            parsed.packages.iter().map(|p| (p.name.as_str(), p.version.as_str(), p.line, p.purl.as_str())).collect();
        assert_eq!(
            got,
            vec![
                ("plug", "1.11.1", Some(2), "pkg:hex/plug@1.11.1"),
                ("other_name", "0.2.0-rc.1", Some(3), "pkg:hex/other_name@0.2.0-rc.1"),
            ]
        );
        assert_eq!(parsed.left_out.len(), 1);
        assert_eq!(parsed.left_out[0].entry, "foo");
        assert_eq!(parsed.left_out[0].reason, LeftOutReason::Vcs);
        assert_eq!(parsed.left_out[0].location, Location::Line(5));
    }

    #[test]
    fn terms() {
        let mut r =
            Reader { text: r#"%{"a" => [x: 1, y: :"q q"], :b => {nil, "\"e\""}}"#, pos: 0, path: "t", counted: (0, 1) };
        let term = r.term(0).expect("reads");
        let Term::Map(entries) = term else { panic!("a map") };
        assert_eq!(
            entries[0].1,
            Term::List(vec![
                Term::Tuple(vec![Term::Atom("x".into()), Term::Word("1".into())]),
                Term::Tuple(vec![Term::Atom("y".into()), Term::Atom("q q".into())]),
            ])
        );
        assert_eq!(entries[1].1, Term::Tuple(vec![Term::Atom("nil".into()), Term::Str("\"e\"".into())]));
    }

    #[test]
    fn errors_and_empty() {
        assert_eq!(parse("%{}\n", "mix.lock").expect("empty"), Parsed::default());
        assert_eq!(parse("", "mix.lock").expect("empty"), Parsed::default());
        let e = parse("%{\n  \"a\": {:hex, :a, \"1\"\n", "mix.lock").expect_err("unclosed");
        assert!(matches!(e.location, Location::LineColumn(3, _)), "{e}");
        assert!(parse("[1]", "mix.lock").is_err());
        assert!(parse("%{\"a\": \"x}", "mix.lock").is_err());
        assert!(parse(&"[".repeat(10_000), "mix.lock").is_err());
        assert!(parse("%{} x", "mix.lock").is_err());
    }
}
