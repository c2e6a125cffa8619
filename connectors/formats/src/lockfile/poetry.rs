//! (being written)

use super::Parsed;
use crate::error::FormatError;

/// Parses the file `path` with text `text`.
pub fn parse(_text: &str, path: &str) -> Result<Parsed, FormatError> {
    super::not_yet(path, "poetry")
}
