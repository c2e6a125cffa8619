//! (being written)

use super::Parsed;
use crate::error::FormatError;

/// Parses the file `path` with text `text`; `read` fetches included files.
pub fn parse(
    _text: &str,
    path: &str,
    _read: &mut dyn FnMut(&str) -> Result<String, FormatError>,
) -> Result<Parsed, FormatError> {
    super::not_yet(path, "requirements")
}
