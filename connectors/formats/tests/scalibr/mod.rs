//! Reads google/osv-scalibr's extractor test tables (`*_test.go`) as data: a small reader of Go
//! composite literals into a generic [`Value`] tree, and [`read_table`] / [`cases`] on top of it,
//! which find every table entry that names an input file and what scalibr wants from it.
//!
//! The reader knows enough Go for test tables: string literals (interpreted and raw), runes,
//! numbers, identifiers, selectors, `&x`, composite literals of any type (`[]T{}`, `map[K]V{}`,
//! `struct{...}{}`, elided element types), keyed and positional elements, calls, comments.
//! Anything else inside a literal (binary expressions, function literals, index expressions)
//! becomes [`Value::Other`], so a table that uses it is seen as "not literal", never guessed.
//! Two kinds of code are evaluated, exactly as Go would: a call of a helper function of the same
//! file whose body is only `return EXPR` (its parameters replaced by the arguments), and a local
//! alias `loc := extractor.LocationFromPathAndLine`.

use std::collections::HashMap;
use std::path::Path;

/// One Go token.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// An identifier or keyword.
    Ident(String),
    /// A string literal, unquoted.
    Str(String),
    /// A number or rune literal, as written.
    Num(String),
    /// An operator or delimiter.
    Punct(&'static str),
}

/// A token and the 1-based line it starts on.
#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: u32,
}

/// Go's operators and delimiters, longest first so that lexing is greedy.
const PUNCTS: [&str; 48] = [
    "<<=", ">>=", "&^=", "...", "&&", "||", "<-", "++", "--", "==", "!=", "<=", ">=", ":=", "+=", "-=", "*=", "/=",
    "%=", "&=", "|=", "^=", "<<", ">>", "&^", "~", "+", "-", "*", "/", "%", "&", "|", "^", "<", ">", "=", "!", "(",
    ")", "[", "]", "{", "}", ",", ";", ".", ":",
];

/// Splits Go source into tokens; comments are dropped. An unterminated string or comment ends the
/// input (the tokens before it are kept) and is reported as an error.
fn lex(src: &str) -> Result<Vec<Token>, String> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1u32;
    while i < b.len() {
        let c = b[i];
        let start_line = line;
        if c == b'\n' {
            line += 1;
            i += 1;
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else if src[i..].starts_with("//") {
            i = src[i..].find('\n').map_or(b.len(), |n| i + n);
        } else if src[i..].starts_with("/*") {
            let end = src[i + 2..].find("*/").ok_or_else(|| format!("line {line}: unterminated comment"))?;
            line += count_lines(&src[i..i + 2 + end]);
            i += end + 4;
        } else if c == b'`' {
            let end = src[i + 1..].find('`').ok_or_else(|| format!("line {line}: unterminated raw string"))?;
            let text = &src[i + 1..i + 1 + end];
            line += count_lines(text);
            out.push(Token { tok: Tok::Str(text.replace('\r', "")), line: start_line });
            i += end + 2;
        } else if c == b'"' || c == b'\'' {
            let (text, next) = quoted(src, i).ok_or_else(|| format!("line {line}: unterminated literal"))?;
            let tok = if c == b'"' { Tok::Str(text) } else { Tok::Num(src[i..next].to_string()) };
            out.push(Token { tok, line: start_line });
            i = next;
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let n = number_len(&b[i..]);
            out.push(Token { tok: Tok::Num(src[i..i + n].to_string()), line });
            i += n;
        } else if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 {
            let n = src[i..].find(|ch: char| !(ch == '_' || ch.is_alphanumeric())).unwrap_or(src.len() - i);
            if n == 0 {
                return Err(format!("line {line}: unexpected character {:?}", src[i..].chars().next()));
            }
            out.push(Token { tok: Tok::Ident(src[i..i + n].to_string()), line });
            i += n;
        } else if let Some(p) = PUNCTS.iter().find(|&&p| src[i..].starts_with(p)) {
            out.push(Token { tok: Tok::Punct(p), line });
            i += p.len();
        } else {
            return Err(format!("line {line}: unexpected character {:?}", src[i..].chars().next()));
        }
    }
    Ok(out)
}

fn count_lines(s: &str) -> u32 {
    u32::try_from(s.bytes().filter(|&c| c == b'\n').count()).unwrap_or(u32::MAX)
}

/// The length of the number at the start of `b` (decimal, hex, octal, binary, float, imaginary).
fn number_len(b: &[u8]) -> usize {
    let mut n = 0;
    while n < b.len() {
        let c = b[n];
        let exp_sign = (c == b'+' || c == b'-') && n > 0 && matches!(b[n - 1], b'e' | b'E' | b'p' | b'P');
        if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || exp_sign {
            n += 1;
        } else {
            break;
        }
    }
    n
}

/// Reads the `"..."` or `'...'` literal starting at byte `i`: its value and the byte after it.
fn quoted(src: &str, i: usize) -> Option<(String, usize)> {
    let quote = src[i..].chars().next()?;
    let mut out = String::new();
    let mut chars = src[i + 1..].char_indices();
    while let Some((k, ch)) = chars.next() {
        match ch {
            '\n' => return None,
            c if c == quote => return Some((out, i + 1 + k + 1)),
            '\\' => {
                let (_, e) = chars.next()?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    'x' | 'u' | 'U' => {
                        let digits = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = (0..digits).filter_map(|_| chars.next().map(|(_, c)| c)).collect();
                        let code = u32::from_str_radix(&hex, 16).ok()?;
                        out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                    }
                    '0'..='7' => {
                        let mut oct = String::from(e);
                        oct.extend((0..2).filter_map(|_| chars.next().map(|(_, c)| c)));
                        let code = u32::from_str_radix(&oct, 8).ok()?;
                        out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                    }
                    other => out.push(other),
                }
            }
            c => out.push(c),
        }
    }
    None
}

/// A Go expression as far as test tables need one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A string literal's value.
    Str(String),
    /// A number or rune literal, as written (with a leading `-` if negated).
    Num(String),
    /// An identifier or selector (`nil`, `true`, `purl.TypeNPM`, `tt.path`).
    Ident(String),
    /// `&x`.
    Addr(Box<Value>),
    /// A composite literal: its type as written (`[]*extractor.Package`, empty when elided) and its
    /// elements.
    Composite {
        /// The literal's type, tokens joined without spaces (`struct{...}` shortened to `struct`).
        ty: String,
        /// The elements in order.
        elems: Vec<Elem>,
        /// The line of its opening brace.
        line: u32,
    },
    /// A call: the function as written (`extractor.LocationFromPathAndLine`) and its arguments.
    Call {
        /// The called function.
        func: String,
        /// Its arguments.
        args: Vec<Value>,
    },
    /// Anything else (a binary expression, a function literal, an index): what it starts with.
    Other(String),
}

/// One element of a composite literal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Elem {
    /// The key (`Name` in `Name: "x"`), if keyed.
    pub key: Option<Value>,
    /// The value.
    pub value: Value,
}

impl Value {
    /// The value of the element keyed `key` (an identifier key), if this is a composite with one.
    pub(crate) fn field(&self, key: &str) -> Option<&Value> {
        match self.strip_addr() {
            Value::Composite { elems, .. } => {
                elems.iter().find(|e| matches!(&e.key, Some(Value::Ident(k)) if k == key)).map(|e| &e.value)
            }
            _ => None,
        }
    }

    /// The value with any `&` taken off.
    pub(crate) fn strip_addr(&self) -> &Value {
        match self {
            Value::Addr(inner) => inner.strip_addr(),
            v => v,
        }
    }

    /// The string, if this is a string literal.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is the identifier `nil`.
    pub(crate) fn is_nil(&self) -> bool {
        matches!(self, Value::Ident(i) if i == "nil")
    }
}

/// A parser over a token slice.
struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
}

type PResult<T> = Result<T, String>;

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn line(&self) -> u32 {
        self.toks.get(self.pos).or(self.toks.last()).map_or(0, |t| t.line)
    }

    fn is(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(q)) if *q == p)
    }

    fn expect(&mut self, p: &str) -> PResult<()> {
        if self.is(p) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("line {}: expected `{p}`, found {:?}", self.line(), self.peek()))
        }
    }

    fn ident(&mut self) -> PResult<String> {
        match self.peek() {
            Some(Tok::Ident(w)) => {
                self.pos += 1;
                Ok(w.clone())
            }
            other => Err(format!("line {}: expected an identifier, found {other:?}", self.line())),
        }
    }

    /// Skips a balanced `(...)`, `[...]` or `{...}` group starting at the current token.
    fn skip_group(&mut self) -> PResult<()> {
        let start = self.line();
        let mut depth = 0usize;
        while let Some(t) = self.peek() {
            self.pos += 1;
            match t {
                Tok::Punct("(" | "[" | "{") => depth += 1,
                Tok::Punct(")" | "]" | "}") => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
        Err(format!("line {start}: unbalanced brackets"))
    }

    /// A type, as text.
    fn ty(&mut self) -> PResult<String> {
        match self.peek() {
            Some(Tok::Punct("*")) => {
                self.pos += 1;
                Ok(format!("*{}", self.ty()?))
            }
            Some(Tok::Punct("[")) => {
                self.pos += 1;
                let mut len = String::new();
                while !self.is("]") {
                    match self.peek() {
                        Some(Tok::Num(n) | Tok::Ident(n)) => len.push_str(n),
                        Some(Tok::Punct(p)) => len.push_str(p),
                        Some(Tok::Str(_)) | None => return Err(format!("line {}: bad array length", self.line())),
                    }
                    self.pos += 1;
                }
                self.expect("]")?;
                Ok(format!("[{len}]{}", self.ty()?))
            }
            Some(Tok::Ident(w)) if w == "map" => {
                self.pos += 1;
                self.expect("[")?;
                let key = self.ty()?;
                self.expect("]")?;
                Ok(format!("map[{key}]{}", self.ty()?))
            }
            Some(Tok::Ident(w)) if w == "struct" || w == "interface" => {
                let w = w.clone();
                self.pos += 1;
                let body_start = self.pos;
                self.skip_group()?;
                let fields: Vec<String> = self.toks[body_start..self.pos]
                    .iter()
                    .filter_map(|t| match &t.tok {
                        Tok::Ident(i) => Some(i.clone()),
                        _ => None,
                    })
                    .collect();
                Ok(format!("{w}{{{}}}", fields.join(" ")))
            }
            Some(Tok::Ident(w)) if w == "func" => {
                self.pos += 1;
                self.skip_group()?;
                Ok("func".to_string())
            }
            Some(Tok::Ident(_)) => {
                let mut name = self.ident()?;
                while self.is(".") {
                    self.pos += 1;
                    name.push('.');
                    name.push_str(&self.ident()?);
                }
                Ok(name)
            }
            other => Err(format!("line {}: expected a type, found {other:?}", self.line())),
        }
    }

    /// `{ elem, ... }` after a composite literal's type.
    fn composite_body(&mut self, ty: String) -> PResult<Value> {
        let line = self.line();
        self.expect("{")?;
        let mut elems = Vec::new();
        while !self.is("}") {
            let first = self.element()?;
            let elem = if self.is(":") {
                self.pos += 1;
                Elem { key: Some(first), value: self.element()? }
            } else {
                Elem { key: None, value: first }
            };
            elems.push(elem);
            if self.is(",") {
                self.pos += 1;
            } else if !self.is("}") {
                return Err(format!(
                    "line {}: expected `,` or `}}` in a literal, found {:?}",
                    self.line(),
                    self.peek()
                ));
            }
        }
        self.expect("}")?;
        Ok(Value::Composite { ty, elems, line })
    }

    /// An element of a composite literal: an expression or an elided-type `{...}`.
    fn element(&mut self) -> PResult<Value> {
        if self.is("{") { self.composite_body(String::new()) } else { self.expr() }
    }

    /// An expression: a unary expression, and if a binary operator follows, [`Value::Other`].
    fn expr(&mut self) -> PResult<Value> {
        let first = self.unary()?;
        let mut binary = false;
        while let Some(Tok::Punct(op)) = self.peek() {
            if !matches!(
                *op,
                "+" | "-"
                    | "*"
                    | "/"
                    | "%"
                    | "&"
                    | "|"
                    | "^"
                    | "<<"
                    | ">>"
                    | "&^"
                    | "&&"
                    | "||"
                    | "=="
                    | "!="
                    | "<"
                    | "<="
                    | ">"
                    | ">="
            ) {
                break;
            }
            self.pos += 1;
            self.unary()?;
            binary = true;
        }
        Ok(if binary { Value::Other(format!("binary expression from {first:?}")) } else { first })
    }

    fn unary(&mut self) -> PResult<Value> {
        match self.peek() {
            Some(Tok::Punct("&")) => {
                self.pos += 1;
                Ok(Value::Addr(Box::new(self.unary()?)))
            }
            Some(Tok::Punct("-")) => {
                self.pos += 1;
                Ok(match self.unary()? {
                    Value::Num(n) => Value::Num(format!("-{n}")),
                    v => Value::Other(format!("negated {v:?}")),
                })
            }
            Some(Tok::Punct("+" | "!" | "^" | "*" | "<-")) => {
                self.pos += 1;
                Ok(Value::Other(format!("unary {:?}", self.unary()?)))
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> PResult<Value> {
        let mut v = self.operand()?;
        loop {
            match self.peek() {
                Some(Tok::Punct(".")) => {
                    self.pos += 1;
                    if self.is("(") {
                        // A type assertion `x.(T)`.
                        self.skip_group()?;
                        v = Value::Other(format!("type assertion on {v:?}"));
                    } else {
                        let field = self.ident()?;
                        v = match v {
                            Value::Ident(base) => Value::Ident(format!("{base}.{field}")),
                            other => Value::Other(format!("selector .{field} on {other:?}")),
                        };
                    }
                }
                Some(Tok::Punct("(")) => {
                    self.pos += 1;
                    let mut args = Vec::new();
                    while !self.is(")") {
                        args.push(self.element()?);
                        if self.is("...") {
                            self.pos += 1;
                        }
                        if self.is(",") {
                            self.pos += 1;
                        } else if !self.is(")") {
                            return Err(format!("line {}: expected `,` or `)` in a call", self.line()));
                        }
                    }
                    self.expect(")")?;
                    v = match v {
                        Value::Ident(func) => Value::Call { func, args },
                        other => Value::Other(format!("call of {other:?}")),
                    };
                }
                Some(Tok::Punct("[")) => {
                    self.skip_group()?;
                    v = Value::Other(format!("index of {v:?}"));
                }
                Some(Tok::Punct("{")) => match v {
                    // A composite literal of a named type: `pkg.T{...}` (only where a literal can
                    // be, which is everywhere this parser is used).
                    Value::Ident(ty) => v = self.composite_body(ty)?,
                    _ => return Ok(v),
                },
                _ => return Ok(v),
            }
        }
    }

    fn operand(&mut self) -> PResult<Value> {
        match self.peek() {
            Some(Tok::Str(s)) => {
                self.pos += 1;
                Ok(Value::Str(s.clone()))
            }
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(Value::Num(n.clone()))
            }
            Some(Tok::Punct("(")) => {
                self.pos += 1;
                let v = self.expr()?;
                self.expect(")")?;
                Ok(v)
            }
            Some(Tok::Punct("[")) => {
                let ty = self.ty()?;
                self.composite_or_conversion(ty)
            }
            Some(Tok::Ident(w)) if w == "map" || w == "struct" => {
                let ty = self.ty()?;
                self.composite_or_conversion(ty)
            }
            Some(Tok::Ident(w)) if w == "func" => {
                self.pos += 1;
                self.skip_group()?;
                // Results, then the body.
                while !self.is("{") && self.peek().is_some() {
                    if self.is("(") {
                        self.skip_group()?;
                    } else {
                        self.pos += 1;
                    }
                }
                self.skip_group()?;
                Ok(Value::Other("func literal".to_string()))
            }
            Some(Tok::Ident(w)) => {
                self.pos += 1;
                Ok(Value::Ident(w.clone()))
            }
            other => Err(format!("line {}: expected an expression, found {other:?}", self.line())),
        }
    }

    /// After a type: a composite literal, or a conversion `T(x)`.
    fn composite_or_conversion(&mut self, ty: String) -> PResult<Value> {
        if self.is("{") {
            self.composite_body(ty)
        } else if self.is("(") {
            self.skip_group()?;
            Ok(Value::Other(format!("conversion to {ty}")))
        } else {
            Err(format!("line {}: expected a literal after type {ty}", self.line()))
        }
    }
}

/// Parses one Go expression (a composite literal, a call, a literal, ...) from the whole of `src`.
pub(crate) fn parse_expr(src: &str) -> Result<Value, String> {
    let toks = lex(src)?;
    let mut p = Parser { toks: &toks, pos: 0 };
    let v = p.expr()?;
    match p.peek() {
        None | Some(Tok::Punct(";")) => Ok(v),
        Some(t) => Err(format!("line {}: unexpected {t:?} after the expression", p.line())),
    }
}

/// A top-level function of a Go file: its name, its parameters' tokens and its body's tokens.
struct GoFunc<'a> {
    name: String,
    params: &'a [Token],
    body: &'a [Token],
}

/// The top-level `func` declarations of a token stream (methods too, by their name).
fn functions(toks: &[Token]) -> Vec<GoFunc<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut depth = 0usize;
    while i < toks.len() {
        match &toks[i].tok {
            Tok::Punct("{" | "(" | "[") => depth += 1,
            Tok::Punct("}" | ")" | "]") => depth = depth.saturating_sub(1),
            Tok::Ident(w) if w == "func" && depth == 0 => {
                let mut p = Parser { toks, pos: i + 1 };
                if p.is("(") && p.skip_group().is_err() {
                    break;
                }
                let Ok(name) = p.ident() else {
                    i += 1;
                    continue;
                };
                let params_start = p.pos;
                if p.is("(") && p.skip_group().is_err() {
                    break;
                }
                let params = &toks[params_start..p.pos];
                // Skip the results up to the body's `{` (brackets inside are balanced).
                while !p.is("{") && p.peek().is_some() {
                    if p.is("(") || p.is("[") {
                        if p.skip_group().is_err() {
                            break;
                        }
                    } else {
                        p.pos += 1;
                    }
                }
                let start = p.pos;
                if p.skip_group().is_err() {
                    break;
                }
                out.push(GoFunc { name, params, body: &toks[start..p.pos] });
                i = p.pos;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Every composite literal that starts a table-like expression (`[]T{...}`, `map[K]V{...}`) in
/// `body`, outermost only, with parse errors of the ones that failed.
fn table_literals(body: &[Token]) -> (Vec<Value>, Vec<String>) {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let starts = match (&body[i].tok, body.get(i + 1).map(|t| &t.tok)) {
            (Tok::Punct("["), Some(Tok::Punct("]"))) => true,
            (Tok::Ident(w), Some(Tok::Punct("["))) => w == "map",
            _ => false,
        };
        if starts {
            let mut p = Parser { toks: body, pos: i };
            match p.expr() {
                Ok(v @ Value::Composite { .. }) => {
                    found.push(v);
                    i = p.pos;
                    continue;
                }
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
        i += 1;
    }
    (found, errors)
}

/// A package a table wants an extractor to yield.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct WantPackage {
    /// `Name`.
    pub name: String,
    /// `Version` (empty when the entry has none).
    pub version: String,
    /// The purl type (`npm`, `pypi`, ...), from `purl.TypeX` or a string.
    pub purl_type: Option<String>,
    /// `DepGroupVals` from the metadata, sorted and deduplicated; empty when absent.
    pub groups: Vec<String>,
    /// The 1-based line of the package in the case's input file, when the location names one
    /// (a location in another file gives `None`).
    pub line: Option<u32>,
}

/// One table entry: an input file and what scalibr wants from it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Case {
    /// The Go test function holding the table (`TestExtractor_Extract`).
    pub test_fn: String,
    /// The entry's `Name` / `name` (empty if it has none).
    pub name: String,
    /// The input path as written, relative to the test file's folder.
    pub path: String,
    /// The packages wanted (in the table's order).
    pub want: Vec<WantPackage>,
    /// The error wanted: `Some(substring)` for `ContainsErrStr{Str: ...}`, `Some("")` for any error.
    pub want_err: Option<String>,
    /// The line of the entry in the Go file.
    pub go_line: u32,
}

/// A table entry that names an input but was not read, and why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Skipped {
    /// The Go test function holding the table.
    pub test_fn: String,
    /// The entry's name.
    pub name: String,
    /// The line of the entry in the Go file.
    pub go_line: u32,
    /// Why it was skipped.
    pub why: String,
}

/// What a test file's tables hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Table {
    /// Entries read.
    pub cases: Vec<Case>,
    /// Entries with expected packages that are not literal (built by code), or with an input that
    /// is not a literal path.
    pub skipped: Vec<Skipped>,
    /// Table literals that could not be parsed (with the line).
    pub errors: Vec<String>,
}

/// The cases of a scalibr `*_test.go` file (see [`read_table`]); an unreadable file gives none.
pub(crate) fn cases(go_test_file: &Path) -> Vec<Case> {
    read_table(go_test_file).map(|t| t.cases).unwrap_or_default()
}

/// Reads every table of a scalibr `*_test.go` file.
pub(crate) fn read_table(go_test_file: &Path) -> Result<Table, String> {
    let src = std::fs::read_to_string(go_test_file).map_err(|e| format!("{}: {e}", go_test_file.display()))?;
    read_table_src(&src).map_err(|e| format!("{}: {e}", go_test_file.display()))
}

/// Reads every table of Go source text.
pub(crate) fn read_table_src(src: &str) -> Result<Table, String> {
    let toks = lex(src)?;
    let mut table = Table::default();
    let funcs = functions(&toks);
    let helpers: HashMap<String, Helper> =
        funcs.iter().filter_map(|f| helper(f).map(|h| (f.name.clone(), h))).collect();
    for f in &funcs {
        let (lits, errors) = table_literals(f.body);
        table.errors.extend(errors.into_iter().map(|e| format!("{}: {e}", f.name)));
        let aliases = aliases(f.body);
        for lit in &lits {
            let lit = &inline(lit, &aliases, &helpers, 0);
            let declares_want = matches!(lit, Value::Composite { ty, .. } if ty.contains("wantPackages"));
            collect_entries(lit, &f.name, declares_want, &mut table);
        }
    }
    Ok(table)
}

/// A helper function of the test file whose body is only `return EXPR` (after an optional
/// `t.Helper()`), such as `func pkg(t *testing.T, name, version string) *extractor.Package`.
struct Helper {
    params: Vec<String>,
    body: Value,
}

/// The function as a [`Helper`], if its body is that simple.
fn helper(f: &GoFunc<'_>) -> Option<Helper> {
    let inner = f.body.get(1..f.body.len().checked_sub(1)?)?;
    let mut p = Parser { toks: inner, pos: 0 };
    // `t.Helper()`
    if matches!((p.peek(), inner.get(1).map(|t| &t.tok), inner.get(2).map(|t| &t.tok)),
        (Some(Tok::Ident(_)), Some(Tok::Punct(".")), Some(Tok::Ident(h))) if h == "Helper")
    {
        p.pos = 3;
        p.skip_group().ok()?;
    }
    if !matches!(p.peek(), Some(Tok::Ident(r)) if r == "return") {
        return None;
    }
    p.pos += 1;
    let body = p.expr().ok()?;
    while p.is(";") {
        p.pos += 1;
    }
    if p.peek().is_some() {
        return None;
    }
    Some(Helper { params: param_names(f.params)?, body })
}

/// The parameter names of `(a, b string, c int)`.
fn param_names(params: &[Token]) -> Option<Vec<String>> {
    let inner = params.get(1..params.len().checked_sub(1)?)?;
    let mut parts: Vec<Vec<&Tok>> = vec![Vec::new()];
    let mut depth = 0usize;
    for t in inner {
        match &t.tok {
            Tok::Punct("(" | "[" | "{") => depth += 1,
            Tok::Punct(")" | "]" | "}") => depth = depth.saturating_sub(1),
            Tok::Punct(",") if depth == 0 => {
                parts.push(Vec::new());
                continue;
            }
            _ => {}
        }
        parts.last_mut()?.push(&t.tok);
    }
    parts.retain(|p| !p.is_empty());
    let any_typed = parts.iter().any(|p| p.len() > 1);
    parts
        .iter()
        .map(|p| match p.first() {
            Some(Tok::Ident(name)) if any_typed => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// Local aliases of a function body: `loc := extractor.LocationFromPathAndLine` (a name bound to
/// a bare identifier or selector, ending the statement).
fn aliases(body: &[Token]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (i, t) in body.iter().enumerate() {
        let (Tok::Ident(name), Some(Tok::Punct(":="))) = (&t.tok, body.get(i + 1).map(|t| &t.tok)) else {
            continue;
        };
        let mut j = i + 2;
        let mut target = String::new();
        while let Some(Tok::Ident(part)) = body.get(j).map(|t| &t.tok) {
            target.push_str(part);
            if matches!(body.get(j + 1).map(|t| &t.tok), Some(Tok::Punct("."))) {
                target.push('.');
                j += 2;
            } else {
                j += 1;
                break;
            }
        }
        let ends = body.get(j).is_none_or(|next| next.line > t.line || next.tok == Tok::Punct(";"));
        if !target.is_empty() && !target.ends_with('.') && ends {
            out.insert(name.clone(), target);
        }
    }
    out
}

/// The literal with aliased calls renamed and calls of [`Helper`]s replaced by their bodies.
fn inline(v: &Value, aliases: &HashMap<String, String>, helpers: &HashMap<String, Helper>, depth: u32) -> Value {
    let again = |x: &Value| inline(x, aliases, helpers, depth);
    match v {
        Value::Addr(inner) => Value::Addr(Box::new(again(inner))),
        Value::Composite { ty, elems, line } => Value::Composite {
            ty: ty.clone(),
            elems: elems.iter().map(|e| Elem { key: e.key.clone(), value: again(&e.value) }).collect(),
            line: *line,
        },
        Value::Call { func, args } => {
            let func = aliases.get(func).unwrap_or(func);
            let args: Vec<Value> = args.iter().map(again).collect();
            match helpers.get(func) {
                Some(h) if h.params.len() == args.len() && depth < 8 => {
                    let bound: HashMap<&str, &Value> = h.params.iter().map(String::as_str).zip(&args).collect();
                    inline(&substitute(&h.body, &bound), aliases, helpers, depth + 1)
                }
                _ => Value::Call { func: func.clone(), args },
            }
        }
        other => other.clone(),
    }
}

/// The expression with the parameters in `bound` replaced by their arguments.
fn substitute(v: &Value, bound: &HashMap<&str, &Value>) -> Value {
    match v {
        Value::Ident(name) => bound.get(name.as_str()).map_or_else(|| v.clone(), |a| (*a).clone()),
        Value::Addr(inner) => Value::Addr(Box::new(substitute(inner, bound))),
        Value::Composite { ty, elems, line } => Value::Composite {
            ty: ty.clone(),
            elems: elems.iter().map(|e| Elem { key: e.key.clone(), value: substitute(&e.value, bound) }).collect(),
            line: *line,
        },
        Value::Call { func, args } => {
            Value::Call { func: func.clone(), args: args.iter().map(|a| substitute(a, bound)).collect() }
        }
        other => other.clone(),
    }
}

/// Walks a literal, turning every entry that names an input into a case (or a skip).
fn collect_entries(v: &Value, test_fn: &str, declares_want: bool, table: &mut Table) {
    let Value::Composite { elems, line, .. } = v.strip_addr() else {
        return;
    };
    let is_entry = v.field("InputConfig").is_some()
        || (v.field("path").is_some()
            && (declares_want || v.field("wantPackages").is_some() || v.field("wantErr").is_some()));
    let has_want = v.field("WantPackages").is_some() || v.field("wantPackages").is_some();
    if is_entry {
        match entry(v, test_fn, *line) {
            Ok(case) => table.cases.push(case),
            Err(why) => {
                table.skipped.push(Skipped { test_fn: test_fn.to_string(), name: entry_name(v), go_line: *line, why })
            }
        }
        return;
    }
    if has_want {
        table.skipped.push(Skipped {
            test_fn: test_fn.to_string(),
            name: entry_name(v),
            go_line: *line,
            why: "wants packages but names no literal input `Path`/`path`".to_string(),
        });
        return;
    }
    for e in elems {
        collect_entries(&e.value, test_fn, declares_want, table);
    }
}

fn entry_name(v: &Value) -> String {
    v.field("Name").or_else(|| v.field("name")).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// One entry into a case; `Err(why)` when a part is not literal.
fn entry(v: &Value, test_fn: &str, go_line: u32) -> Result<Case, String> {
    let path_value = match v.field("InputConfig") {
        Some(cfg) => cfg.field("Path").ok_or("`InputConfig` has no `Path`")?,
        None => v.field("path").ok_or("no `path`")?,
    };
    let path = path_value.as_str().ok_or_else(|| format!("the input path is not a literal: {path_value:?}"))?;
    if let Some(Value::Composite { elems, .. }) = v.field("InputConfig").map(Value::strip_addr)
        && let Some(k) = elems.iter().find_map(|e| match &e.key {
            Some(Value::Ident(k)) if k != "Path" => Some(k),
            _ => None,
        })
    {
        return Err(format!("`InputConfig` sets `{k}` besides `Path`"));
    }
    let want = match v.field("WantPackages").or_else(|| v.field("wantPackages")) {
        None => Vec::new(),
        Some(w) if w.is_nil() => Vec::new(),
        Some(Value::Composite { elems, .. }) => {
            elems.iter().map(|e| want_package(&e.value, path)).collect::<Result<Vec<_>, _>>()?
        }
        Some(other) => return Err(format!("the wanted packages are not a literal: {}", short(other))),
    };
    let want_err = match v.field("WantErr").or_else(|| v.field("wantErr")) {
        None => None,
        Some(w) if w.is_nil() => None,
        Some(Value::Ident(i)) if i == "cmpopts.AnyError" => Some(String::new()),
        Some(w) => match w.field("Str").and_then(Value::as_str) {
            Some(s) => Some(s.to_string()),
            None => return Err(format!("the wanted error is not a literal: {}", short(w))),
        },
    };
    Ok(Case { test_fn: test_fn.to_string(), name: entry_name(v), path: path.to_string(), want, want_err, go_line })
}

fn short(v: &Value) -> String {
    let s = format!("{v:?}");
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// One element of a `WantPackages` literal.
fn want_package(v: &Value, case_path: &str) -> Result<WantPackage, String> {
    if !matches!(v.strip_addr(), Value::Composite { .. }) {
        return Err(format!("a wanted package is built by code: {}", short(v)));
    }
    let text = |key: &str| -> Result<String, String> {
        match v.field(key) {
            None => Ok(String::new()),
            Some(Value::Str(s)) => Ok(s.clone()),
            Some(other) => Err(format!("`{key}` is not a literal: {}", short(other))),
        }
    };
    let name = text("Name")?;
    let version = text("Version")?;
    let purl_type = match v.field("PURLType") {
        None => None,
        Some(Value::Str(s)) => Some(s.clone()),
        Some(Value::Ident(i)) => match i.rsplit('.').next().and_then(|t| t.strip_prefix("Type")) {
            Some(t) => Some(t.to_lowercase()),
            None => return Err(format!("unknown purl type `{i}`")),
        },
        Some(other) => return Err(format!("`PURLType` is not a literal: {}", short(other))),
    };
    let groups = match v.field("Metadata") {
        None => Vec::new(),
        Some(m) if m.is_nil() => Vec::new(),
        Some(m @ Value::Addr(_)) | Some(m @ Value::Composite { .. }) => groups(m)?,
        Some(other) => return Err(format!("`Metadata` is not a literal: {}", short(other))),
    };
    let line = match v.field("Location") {
        None => None,
        Some(loc) => location_line(loc, case_path)?,
    };
    Ok(WantPackage { name, version, purl_type, groups, line })
}

/// `DepGroupVals` of a metadata literal, sorted and deduplicated.
fn groups(metadata: &Value) -> Result<Vec<String>, String> {
    let mut out = match metadata.field("DepGroupVals") {
        None => Vec::new(),
        Some(v) if v.is_nil() => Vec::new(),
        Some(Value::Composite { elems, .. }) => elems
            .iter()
            .map(|e| e.value.as_str().map(str::to_string).ok_or_else(|| format!("a group is not a literal: {e:?}")))
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => return Err(format!("`DepGroupVals` is not a literal: {}", short(other))),
    };
    out.sort();
    out.dedup();
    Ok(out)
}

/// The line a location names in `case_path`: `LocationFromPathAndLine(p, N)`, or a
/// `PackageLocation{Descriptor: &location.Location{File: &location.File{Path: p, LineNumber: N}}}`.
fn location_line(loc: &Value, case_path: &str) -> Result<Option<u32>, String> {
    let (path, line) = match loc.strip_addr() {
        Value::Call { func, args } if func.ends_with("LocationFromPathAndLine") => match args.as_slice() {
            [Value::Str(p), Value::Num(n)] => {
                (p.clone(), Some(n.parse::<u32>().map_err(|e| format!("line {n}: {e}"))?))
            }
            _ => return Err(format!("`{func}` with arguments that are not literal: {args:?}")),
        },
        Value::Call { func, .. } if func.ends_with("LocationFromPath") => return Ok(None),
        c @ Value::Composite { .. } => {
            let file =
                c.field("Descriptor").and_then(|d| d.field("File")).ok_or("a location without a `Descriptor`")?;
            let path =
                file.field("Path").and_then(Value::as_str).ok_or("a location `File` without a literal `Path`")?;
            let line = match file.field("LineNumber") {
                None => None,
                Some(Value::Num(n)) => Some(n.parse::<u32>().map_err(|e| format!("line {n}: {e}"))?),
                Some(other) => return Err(format!("`LineNumber` is not a literal: {}", short(other))),
            };
            (path.to_string(), line)
        }
        other => return Err(format!("`Location` is not a literal: {}", short(other))),
    };
    Ok(if path == case_path { line } else { None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_literals() {
        let v = parse_expr(
            r#"[]*extractor.Package{
                // a comment
                {
                    Name: "a\tb\x41\u00e9", Version: `raw
"x"`, /* c */ PURLType: purl.TypeNPM,
                    Location: extractor.LocationFromPathAndLine("testdata/x.lock", 17),
                    Metadata: &osv.DepGroupMetadata{DepGroupVals: []string{"dev", "optional",}},
                },
                &extractor.Package{Name: "b", N: -3, F: 1.5e-3},
            }"#,
        )
        .expect("parses");
        let Value::Composite { ty, elems, .. } = &v else { panic!("not a composite: {v:?}") };
        assert_eq!(ty, "[]*extractor.Package");
        assert_eq!(elems.len(), 2);
        let first = &elems[0].value;
        assert_eq!(first.field("Name"), Some(&Value::Str("a\tbAé".to_string())));
        assert_eq!(first.field("Version"), Some(&Value::Str("raw\n\"x\"".to_string())));
        assert_eq!(first.field("PURLType"), Some(&Value::Ident("purl.TypeNPM".to_string())));
        assert_eq!(
            first.field("Location"),
            Some(&Value::Call {
                func: "extractor.LocationFromPathAndLine".to_string(),
                args: vec![Value::Str("testdata/x.lock".to_string()), Value::Num("17".to_string())],
            })
        );
        let groups = first.field("Metadata").and_then(|m| m.field("DepGroupVals"));
        assert!(matches!(groups, Some(Value::Composite { elems, .. }) if elems.len() == 2));
        let second = &elems[1].value;
        assert!(matches!(second, Value::Addr(_)));
        assert_eq!(second.field("N"), Some(&Value::Num("-3".to_string())));
        assert_eq!(second.field("F"), Some(&Value::Num("1.5e-3".to_string())));
    }

    #[test]
    fn go_maps_structs_and_non_literals() {
        let v = parse_expr(r#"map[string][]int{"a": {1, 2}, "b": nil, "c": f(x...), "d": 1 + 2, "e": func() int { return 1 }(), "f": x[0]}"#)
            .expect("parses");
        let Value::Composite { ty, elems, .. } = &v else { panic!("not a composite") };
        assert_eq!(ty, "map[string][]int");
        assert_eq!(elems.len(), 6);
        assert_eq!(elems[0].key, Some(Value::Str("a".to_string())));
        assert!(elems[1].value.is_nil());
        assert!(matches!(&elems[2].value, Value::Call { func, .. } if func == "f"));
        assert!(matches!(elems[3].value, Value::Other(_)));
        assert!(matches!(elems[4].value, Value::Other(_)));
        assert!(matches!(elems[5].value, Value::Other(_)));
        let s = parse_expr("[]struct{ name string; path string }{{name: \"x\", path: \"p\"}}").expect("parses");
        assert!(matches!(&s, Value::Composite { ty, .. } if ty == "[]struct{name string path string}"));
        assert!(parse_expr("[]int{1, 2").is_err());
        assert!(parse_expr("\"unterminated").is_err());
    }

    #[test]
    fn tables_of_both_shapes() {
        let src = r#"
package x_test

func pkg(t *testing.T, name, version string) *extractor.Package {
	t.Helper()
	return &extractor.Package{Name: name, Version: version, Location: loc2("testdata/one.lock", 7)}
}

func loc2(p string, n int) extractor.PackageLocation { return extractor.LocationFromPathAndLine(p, n) }

func built(name string) *extractor.Package {
	p := &extractor.Package{Name: name}
	return p
}

func TestExtractor_FileRequired(t *testing.T) {
	tests := []struct {
		name string
		path string
		wantRequired bool
	}{{name: "x", path: filepath.FromSlash("a/b"), wantRequired: true}}
	_ = tests
}

func TestExtract(t *testing.T) {
	loc := extractor.LocationFromPathAndLine
	tests := []extracttest.TestTableEntry{
		{
			Name: "invalid", InputConfig: extracttest.ScanInputMockConfig{Path: "testdata/bad.txt"},
			WantErr: extracttest.ContainsErrStr{Str: "could not extract"},
		},
		{
			Name: "one", InputConfig: extracttest.ScanInputMockConfig{Path: "testdata/one.lock"},
			WantPackages: []*extractor.Package{{
				Name: "a", Version: "1", PURLType: purl.TypePyPi,
				Location: extractor.PackageLocation{Descriptor: &location.Location{File: &location.File{Path: "testdata/one.lock", LineNumber: 5}}},
				Metadata: &osv.DepGroupMetadata{DepGroupVals: []string{"test", "dev", "dev"}},
			}, {Name: "b", Version: "2", Location: extractor.LocationFromPathAndLine("testdata/other.lock", 3)}},
		},
		{
			Name: "built", InputConfig: extracttest.ScanInputMockConfig{Path: "testdata/one.lock"},
			WantPackages: []*extractor.Package{built("a")},
		},
		{
			Name: "helper", InputConfig: extracttest.ScanInputMockConfig{Path: "testdata/one.lock"},
			WantPackages: []*extractor.Package{pkg(t, "a", "1"), {Name: "b", Location: loc("testdata/one.lock", 9)}},
		},
	}
	for _, tt := range tests {
		_ = extracttest.ScanInputMockConfig{Path: tt.InputConfig.Path}
	}
	other := []struct {
		name         string
		path         string
		wantPackages []*extractor.Package
	}{{name: "lower", path: "testdata/l.txt"}, {name: "any", path: "testdata/e.txt", wantErr: cmpopts.AnyError}}
	_ = other
}
"#;
        let t = read_table_src(src).expect("reads");
        assert_eq!(t.errors, Vec::<String>::new());
        let names: Vec<_> = t.cases.iter().map(|c| (c.test_fn.as_str(), c.name.as_str())).collect();
        assert_eq!(
            names,
            [
                ("TestExtract", "invalid"),
                ("TestExtract", "one"),
                ("TestExtract", "helper"),
                ("TestExtract", "lower"),
                ("TestExtract", "any")
            ]
        );
        let helper = &t.cases[2].want;
        assert_eq!((helper[0].name.as_str(), helper[0].version.as_str(), helper[0].line), ("a", "1", Some(7)));
        assert_eq!((helper[1].name.as_str(), helper[1].line), ("b", Some(9)));
        assert_eq!(t.cases[0].want_err.as_deref(), Some("could not extract"));
        assert_eq!(t.cases[4].want_err.as_deref(), Some(""));
        let one = &t.cases[1];
        assert_eq!(one.path, "testdata/one.lock");
        assert_eq!(
            one.want[0],
            WantPackage {
                name: "a".into(),
                version: "1".into(),
                purl_type: Some("pypi".into()),
                groups: vec!["dev".into(), "test".into()],
                line: Some(5),
            }
        );
        assert_eq!(one.want[1].line, None, "a line in another file is not this file's");
        assert_eq!(t.skipped.len(), 1);
        assert_eq!(t.skipped[0].name, "built");
    }
}
