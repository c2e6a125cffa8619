//! Maven version ordering, per the POM reference's "Version Order Specification" (which OSV follows):
//! tokens split at `.`, `-` and digit/letter transitions (a transition counts as `-`); empty tokens are
//! `0`; trailing null tokens (`0`, `""`, `final`, `ga`) are trimmed, again before each remaining `-`
//! from the end; the shorter version is padded with nulls of the other's prefix (`0` after `.`, `""`
//! after `-`). Same prefix: numbers numerically, a number after any qualifier except a null one,
//! qualifiers `alpha < beta < milestone < rc = cr < snapshot < "" = final = ga = release < sp <` other
//! qualifiers lexically. Different prefixes: `.qualifier < -qualifier < -number < .number`.
//! `a1`/`b1`/`m1` mean alpha/beta/milestone. Case-insensitive.

use std::cmp::Ordering;

use super::semver::cmp_numeric;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    /// `.`, `-` or `` for the first token.
    prefix: char,
    value: String,
    /// A padding token.
    null: bool,
}

const KEYWORDS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

impl Token {
    fn trimmable(&self) -> bool {
        matches!(self.value.as_str(), "0" | "" | "final" | "ga")
    }

    fn prefix_rank(&self) -> u8 {
        match (is_number(&self.value), self.prefix) {
            (true, '-') => 2,
            (true, _) => 3,
            (false, '-') => 1,
            (false, _) => 0,
        }
    }

    fn padding_for(other: &Token) -> Token {
        if other.prefix == '-' {
            Token { prefix: '-', value: String::new(), null: true }
        } else {
            // `sp` is the one qualifier above the empty value: pad it with "" so that it compares so.
            let value = if other.value == "sp" { String::new() } else { "0".to_string() };
            Token { prefix: '.', value, null: true }
        }
    }

    fn cmp(&self, other: &Token) -> Ordering {
        if self.prefix != other.prefix {
            return self.prefix_rank().cmp(&other.prefix_rank());
        }
        let (a_num, b_num) = (is_number(&self.value), is_number(&other.value));
        if a_num && b_num {
            return cmp_numeric(&self.value, &other.value);
        }
        if a_num && !self.null {
            return Ordering::Greater;
        }
        if b_num && !other.null {
            return Ordering::Less;
        }
        let rank = |v: &str| KEYWORDS.iter().position(|k| *k == v).unwrap_or(KEYWORDS.len());
        match (rank(&self.value), rank(&other.value)) {
            (a, b) if a == KEYWORDS.len() && b == KEYWORDS.len() => self.value.cmp(&other.value),
            (a, b) => a.cmp(&b),
        }
    }
}

fn tokens(version: &str) -> Vec<Token> {
    let lower = version.trim().to_lowercase();
    let mut out = Vec::new();
    let mut prefix = ' ';
    for raw in lower.split_inclusive(['.', '-']) {
        let (part, next_prefix) = match raw.chars().last() {
            Some(c @ ('.' | '-')) => (&raw[..raw.len() - 1], c),
            _ => (raw, ' '),
        };
        // Split at digit/non-digit transitions; each later piece counts as `-`.
        let mut pieces = Vec::new();
        let mut start = 0;
        let bytes = part.as_bytes();
        for i in 1..bytes.len() {
            if bytes[i].is_ascii_digit() != bytes[i - 1].is_ascii_digit() && part.is_char_boundary(i) {
                pieces.push(&part[start..i]);
                start = i;
            }
        }
        pieces.push(&part[start..]);
        let last = pieces.len() - 1;
        for (j, piece) in pieces.into_iter().enumerate() {
            let mut value = if piece.is_empty() { "0".to_string() } else { piece.to_string() };
            value = match value.as_str() {
                "cr" => "rc".to_string(),
                "ga" | "final" | "release" => String::new(),
                "a" if j != last => "alpha".to_string(),
                "b" if j != last => "beta".to_string(),
                "m" if j != last => "milestone".to_string(),
                _ => value,
            };
            if is_number(&value) {
                let trimmed = value.trim_start_matches('0');
                value = if trimmed.is_empty() { "0".to_string() } else { trimmed.to_string() };
            }
            out.push(Token { prefix: if j > 0 { '-' } else { prefix }, value, null: false });
        }
        prefix = next_prefix;
    }
    if out.is_empty() {
        // An empty version is one empty token, which reads as `0`.
        out.push(Token { prefix, value: "0".to_string(), null: false });
    }
    // Trim trailing nulls, then again before each remaining hyphen, from the end.
    let mut i = out.len() as isize - 1;
    while i > 0 {
        let k = i as usize;
        if out[k].trimmable() {
            out.remove(k);
            i -= 1;
            continue;
        }
        while i >= 0 && out[i as usize].prefix != '-' {
            i -= 1;
        }
        i -= 1;
    }
    out
}

/// Compares two Maven versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (tokens(a), tokens(b));
    if a == b {
        return Ordering::Equal;
    }
    for i in 0..a.len().max(b.len()) {
        let left = a.get(i).cloned().unwrap_or_else(|| Token::padding_for(&b[i]));
        let right = b.get(i).cloned().unwrap_or_else(|| Token::padding_for(&a[i]));
        if left.prefix == right.prefix && left.value == right.value {
            continue;
        }
        return left.cmp(&right);
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_order_basics() {
        assert_eq!(compare("1.0-alpha-1", "1.0"), Ordering::Less);
        assert_eq!(compare("1.0-SNAPSHOT", "1.0"), Ordering::Less);
        assert_eq!(compare("1.0", "1.0-1"), Ordering::Less);
        assert_eq!(compare("1ga", "1"), Ordering::Equal);
        assert_eq!(compare("1a1", "1-alpha-1"), Ordering::Equal);
        assert_eq!(compare("1-1", "1-ga-1"), Ordering::Equal);
        assert_eq!(compare("1.0.RC1", "1.0.cr1"), Ordering::Equal);
        assert_eq!(compare("1-beta", "1-milestone"), Ordering::Less);
        assert_eq!(compare("1-rc", "1-snapshot"), Ordering::Less);
        assert_eq!(compare("1", "1-sp"), Ordering::Less);
        assert_eq!(compare("1-release", "1.FINAL"), Ordering::Equal);
        assert_eq!(compare("1-sp", "1-zzz"), Ordering::Less);
        assert_eq!(compare("1.10", "1.9"), Ordering::Greater);
        assert_eq!(compare("", "0"), Ordering::Equal);
        assert_eq!(compare("", "1"), Ordering::Less);
        for g in ["", "-", ".", "--..", "a", "é1é", "1é", " ", "1-", "a1-"] {
            assert_eq!(compare(g, g), Ordering::Equal);
            assert_eq!(compare(g, "1"), compare("1", g).reverse());
        }
    }
}
