//! SPDX licence expressions (SPDX 2.3, annex D): parsed into a tree, and asked whether some way of
//! taking the licence satisfies a condition on each licence term it is taken under.
//!
//! Grammar, read leniently where real documents are sloppy:
//!
//! ```text
//! expression := and ( OR and )*          OR binds loosest
//! and        := with ( AND with )*
//! with       := term [ WITH exception ]
//! term       := id [ "+" ] | "(" expression ")"
//! id         := [A-Za-z0-9.-]+ ( ":" [A-Za-z0-9.-]+ )?   (DocumentRef-x:LicenseRef-y)
//! ```
//!
//! The operators are read in any case (`and`, `Or`), and `/` is read as `OR` (Cargo's legacy
//! `MIT/Apache-2.0`). Anything else — a licence name such as `Apache License 2.0`, an empty
//! expression, unbalanced parentheses, an operator without operands — is an error.

use std::fmt;

/// A licence term: an id (`MIT`, `GPL-2.0`, `LicenseRef-acme`), possibly `+` (that version or any
/// later one), possibly `WITH` an exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The licence id, as written.
    pub id: String,
    /// Written with `+`.
    pub or_later: bool,
    /// The exception after `WITH`, as written.
    pub exception: Option<String>,
}

impl Term {
    /// Whether `name` (an `allow` or `deny` entry) names this term: it has the term's licence id
    /// and, where it says `+` or `WITH` an exception, the term says the same. So `GPL-2.0` names
    /// `GPL-2.0`, `GPL-2.0+` and `GPL-2.0 WITH Classpath-exception-2.0`; `GPL-2.0+` names only
    /// the `+` ones. ASCII case-insensitive (SPDX ids are); blanks around `WITH` do not matter.
    pub fn named_by(&self, name: &str) -> bool {
        let name = name.trim();
        let (license, exception) = match split_with(name) {
            Some((l, e)) => (l, Some(e)),
            None => (name, None),
        };
        let (license, or_later) = match license.strip_suffix('+') {
            Some(l) => (l.trim_end(), true),
            None => (license, false),
        };
        license.eq_ignore_ascii_case(&self.id)
            && (!or_later || self.or_later)
            && exception.is_none_or(|e| self.exception.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(e)))
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)?;
        if self.or_later {
            f.write_str("+")?;
        }
        if let Some(e) = &self.exception {
            write!(f, " WITH {e}")?;
        }
        Ok(())
    }
}

/// `LICENSE WITH EXCEPTION` (the operator in any case), split.
fn split_with(name: &str) -> Option<(&str, &str)> {
    let words: Vec<&str> = name.split_whitespace().collect();
    match words.as_slice() {
        [license, with, exception] if with.eq_ignore_ascii_case("WITH") => Some((license, exception)),
        _ => None,
    }
}

/// A parsed licence expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expression {
    /// One licence term.
    Term(Term),
    /// Every part applies.
    And(Vec<Expression>),
    /// Any one alternative may be chosen.
    Or(Vec<Expression>),
}

impl Expression {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Expression, SpdxError> {
        let tokens = tokens(text)?;
        let mut p = Parser { tokens, at: 0 };
        let e = p.or()?;
        match p.tokens.get(p.at) {
            None => Ok(e),
            Some(t) => Err(SpdxError::Unexpected(t.to_string())),
        }
    }

    /// Whether the licence can be taken so that every term it is taken under satisfies `ok`: an
    /// `OR` needs one alternative to, an `AND` every part.
    pub fn satisfiable(&self, ok: &impl Fn(&Term) -> bool) -> bool {
        match self {
            Expression::Term(t) => ok(t),
            Expression::And(parts) => parts.iter().all(|p| p.satisfiable(ok)),
            Expression::Or(alternatives) => alternatives.iter().any(|a| a.satisfiable(ok)),
        }
    }
}

/// Why a licence expression could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpdxError {
    /// Nothing to read.
    #[error("empty licence expression")]
    Empty,
    /// A character that is in no id or operator.
    #[error("`{0}` is not allowed in a licence expression")]
    Character(char),
    /// A token where it cannot be (two ids in a row, an operator without operands, `)` too many).
    #[error("unexpected `{0}`")]
    Unexpected(String),
    /// The expression ends where an id or `(` must come, or a `(` is not closed.
    #[error("the expression ends too early")]
    Truncated,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Id(String),
    Plus,
    And,
    Or,
    With,
    Open,
    Close,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Id(id) => f.write_str(id),
            Token::Plus => f.write_str("+"),
            Token::And => f.write_str("AND"),
            Token::Or => f.write_str("OR"),
            Token::With => f.write_str("WITH"),
            Token::Open => f.write_str("("),
            Token::Close => f.write_str(")"),
        }
    }
}

fn tokens(text: &str) -> Result<Vec<Token>, SpdxError> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => out.push(Token::Open),
            ')' => out.push(Token::Close),
            '+' => out.push(Token::Plus),
            '/' => out.push(Token::Or),
            c if is_id_char(c) => {
                let mut end = start + c.len_utf8();
                while let Some(&(i, d)) = chars.peek() {
                    if !is_id_char(d) {
                        break;
                    }
                    end = i + d.len_utf8();
                    chars.next();
                }
                let word = &text[start..end];
                out.push(match word {
                    w if w.eq_ignore_ascii_case("AND") => Token::And,
                    w if w.eq_ignore_ascii_case("OR") => Token::Or,
                    w if w.eq_ignore_ascii_case("WITH") => Token::With,
                    w => Token::Id(w.to_string()),
                });
            }
            other => return Err(SpdxError::Character(other)),
        }
    }
    if out.is_empty() {
        return Err(SpdxError::Empty);
    }
    Ok(out)
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':')
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += usize::from(t.is_some());
        t
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn or(&mut self) -> Result<Expression, SpdxError> {
        let mut alternatives = vec![self.and()?];
        while self.peek() == Some(&Token::Or) {
            self.next();
            alternatives.push(self.and()?);
        }
        Ok(if alternatives.len() == 1 { alternatives.swap_remove(0) } else { Expression::Or(alternatives) })
    }

    fn and(&mut self) -> Result<Expression, SpdxError> {
        let mut parts = vec![self.with()?];
        while self.peek() == Some(&Token::And) {
            self.next();
            parts.push(self.with()?);
        }
        Ok(if parts.len() == 1 { parts.swap_remove(0) } else { Expression::And(parts) })
    }

    fn with(&mut self) -> Result<Expression, SpdxError> {
        match self.next() {
            Some(Token::Open) => {
                let e = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(e),
                    Some(t) => Err(SpdxError::Unexpected(t.to_string())),
                    None => Err(SpdxError::Truncated),
                }
            }
            Some(Token::Id(id)) => {
                let or_later = self.peek() == Some(&Token::Plus);
                if or_later {
                    self.next();
                }
                let exception = if self.peek() == Some(&Token::With) {
                    self.next();
                    match self.next() {
                        Some(Token::Id(e)) => Some(e),
                        Some(t) => return Err(SpdxError::Unexpected(t.to_string())),
                        None => return Err(SpdxError::Truncated),
                    }
                } else {
                    None
                };
                Ok(Expression::Term(Term { id, or_later, exception }))
            }
            Some(t) => Err(SpdxError::Unexpected(t.to_string())),
            None => Err(SpdxError::Truncated),
        }
    }
}

/// One `allow` or `deny` entry as a licence term: an id, `id+`, or `id WITH exception`.
pub fn parse_term(text: &str) -> Result<Term, SpdxError> {
    match Expression::parse(text)? {
        Expression::Term(t) => Ok(t),
        _ => Err(SpdxError::Unexpected(text.trim().to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(id: &str) -> Expression {
        Expression::Term(Term { id: id.into(), or_later: false, exception: None })
    }

    #[test]
    fn precedence_or_below_and_below_with_and_parentheses() {
        let e = Expression::parse("MIT OR Apache-2.0 AND BSD-3-Clause").expect("parses");
        assert_eq!(
            e,
            Expression::Or(vec![term("MIT"), Expression::And(vec![term("Apache-2.0"), term("BSD-3-Clause")])])
        );
        let e = Expression::parse("(MIT OR Apache-2.0) AND BSD-3-Clause").expect("parses");
        assert_eq!(
            e,
            Expression::And(vec![Expression::Or(vec![term("MIT"), term("Apache-2.0")]), term("BSD-3-Clause")])
        );
        let e = Expression::parse("GPL-2.0+ WITH Classpath-exception-2.0 or LicenseRef-acme").expect("parses");
        assert_eq!(
            e,
            Expression::Or(vec![
                Expression::Term(Term {
                    id: "GPL-2.0".into(),
                    or_later: true,
                    exception: Some("Classpath-exception-2.0".into())
                }),
                term("LicenseRef-acme"),
            ])
        );
        assert_eq!(Expression::parse("MIT/Apache-2.0"), Expression::parse("MIT OR Apache-2.0"));
        assert_eq!(Expression::parse("DocumentRef-x:LicenseRef-y"), Ok(term("DocumentRef-x:LicenseRef-y")));
    }

    #[test]
    fn what_is_not_an_expression_is_an_error() {
        for (text, error) in [
            ("", SpdxError::Empty),
            ("  ", SpdxError::Empty),
            ("Apache License 2.0", SpdxError::Unexpected("License".into())),
            ("MIT OR", SpdxError::Truncated),
            ("AND MIT", SpdxError::Unexpected("AND".into())),
            ("(MIT", SpdxError::Truncated),
            ("MIT)", SpdxError::Unexpected(")".into())),
            ("MIT WITH", SpdxError::Truncated),
            ("MIT WITH (x)", SpdxError::Unexpected("(".into())),
            ("MIT, BSD", SpdxError::Character(',')),
        ] {
            assert_eq!(Expression::parse(text), Err(error), "{text:?}");
        }
    }

    #[test]
    fn an_alternative_must_satisfy_in_full_and_every_part_of_an_and() {
        let allowed = ["MIT", "Apache-2.0"];
        let ok = |t: &Term| allowed.iter().any(|a| t.named_by(a));
        let sat = |text: &str| Expression::parse(text).expect(text).satisfiable(&ok);
        assert!(sat("MIT OR GPL-3.0-only"));
        assert!(sat("GPL-3.0-only OR (MIT AND Apache-2.0)"));
        assert!(!sat("MIT AND GPL-3.0-only"));
        assert!(!sat("(MIT OR GPL-3.0-only) AND LGPL-2.1-only"));
        assert!(sat("mit"), "ids are case-insensitive");
        // Avoiding a denied id: some alternative without it.
        let denied = |t: &Term| !t.named_by("GPL-3.0-only");
        let avoid = |text: &str| Expression::parse(text).expect(text).satisfiable(&denied);
        assert!(avoid("MIT OR GPL-3.0-only"));
        assert!(!avoid("MIT AND GPL-3.0-only"));
        assert!(!avoid("GPL-3.0-only"));
    }

    #[test]
    fn an_entry_names_the_terms_of_its_id_that_say_what_it_adds() {
        let t = parse_term("GPL-2.0+ WITH Classpath-exception-2.0").expect("a term");
        assert!(t.named_by("GPL-2.0") && t.named_by("gpl-2.0+ with classpath-exception-2.0"));
        assert!(t.named_by("GPL-2.0+") && t.named_by("GPL-2.0 WITH Classpath-exception-2.0"));
        assert!(!t.named_by("GPL-2.0 WITH LLVM-exception") && !t.named_by("GPL-2.0-only"));
        let only = parse_term("GPL-2.0").expect("a term");
        assert!(!only.named_by("GPL-2.0+") && !only.named_by("GPL-2.0 WITH Classpath-exception-2.0"));
        assert_eq!(t.to_string(), "GPL-2.0+ WITH Classpath-exception-2.0");
        let plain = parse_term("MIT").expect("a term");
        assert!(plain.named_by(" MIT ") && !plain.named_by("MIT+") && !plain.named_by("MIT-0"));
        assert!(parse_term("MIT OR Apache-2.0").is_err() && parse_term("").is_err());
    }
}
