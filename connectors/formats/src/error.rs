//! Where in a document something was wrong, and the error every parser returns.

/// A place in a document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Location {
    /// The document as a whole.
    #[default]
    Document,
    /// A 1-based line.
    Line(u32),
    /// A 1-based line and column.
    LineColumn(u32, u32),
    /// A JSON pointer (`/packages/node_modules~1a/version`) into a JSON document.
    Pointer(String),
    /// A byte offset.
    Offset(u64),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Document => Ok(()),
            Location::Line(l) => write!(f, ":{l}"),
            Location::LineColumn(l, c) => write!(f, ":{l}:{c}"),
            Location::Pointer(p) => write!(f, " at {p}"),
            Location::Offset(o) => write!(f, " at byte {o}"),
        }
    }
}

/// A document that could not be read, with the place it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}{location}: {reason}")]
pub struct FormatError {
    /// The file, as the caller named it.
    pub path: String,
    /// Where in it.
    pub location: Location,
    /// What was wrong.
    pub reason: String,
}

impl FormatError {
    /// An error in `path` at `location`.
    pub fn new(path: &str, location: Location, reason: impl Into<String>) -> FormatError {
        FormatError { path: path.to_string(), location, reason: reason.into() }
    }
}

/// The 1-based line and column of byte `offset` in `text` (clamped to its end).
pub fn line_column(text: &str, offset: usize) -> (u32, u32) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (u32::try_from(line).unwrap_or(u32::MAX), u32::try_from(col).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("ab\ncd", 99), (2, 3));
        let e = FormatError::new("a.lock", Location::LineColumn(3, 4), "bad");
        assert_eq!(e.to_string(), "a.lock:3:4: bad");
    }
}
