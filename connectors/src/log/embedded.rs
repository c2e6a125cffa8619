//! The embedded, file-backed event log (being written).
