//! A direct Avro binary codec for the event types: serde straight to and from Avro's binary encoding,
//! with no intermediate generic value (apache-avro's `Value` path is several times slower).
//!
//! It relies on the Rust types mirroring their schemas field for field: records are structs with the
//! schema's fields in order; `["null", T]` unions are `Option<T>`; enums are unit-variant enums whose
//! variants are in the schema's symbol order; arrays are `Vec`; maps are `BTreeMap<String, _>`. Tests
//! check the bytes against apache-avro's encoder for every event type.

mod de;
mod ser;

pub use de::{Decoder, decode};
pub use ser::{Encoder, encode_into};

/// Errors of the direct codec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvroError {
    /// The input ended in the middle of a value.
    #[error("truncated Avro data: needed {needed} more byte(s) at position {position}")]
    Truncated {
        /// Byte position where more was needed.
        position: usize,
        /// How many bytes were missing.
        needed: usize,
    },
    /// A variable-length integer was longer than 10 bytes.
    #[error("malformed varint at position {0}")]
    BadVarint(usize),
    /// A string was not UTF-8.
    #[error("invalid UTF-8 in a string at position {0}")]
    Utf8(usize),
    /// A union branch index out of range.
    #[error("invalid union branch {index} at position {position}")]
    BadUnion {
        /// The index read.
        index: i64,
        /// Where.
        position: usize,
    },
    /// An enum symbol index out of range.
    #[error("invalid enum symbol {index} at position {position} (the enum has {symbols} symbols)")]
    BadEnum {
        /// The index read.
        index: i64,
        /// How many symbols the enum has.
        symbols: usize,
        /// Where.
        position: usize,
    },
    /// A negative or absurd length.
    #[error("invalid length {length} at position {position}")]
    BadLength {
        /// The length read.
        length: i64,
        /// Where.
        position: usize,
    },
    /// A boolean byte other than 0 or 1.
    #[error("invalid boolean byte {byte} at position {position}")]
    BadBool {
        /// The byte read.
        byte: u8,
        /// Where.
        position: usize,
    },
    /// A number out of the target type's range.
    #[error("number {value} out of range for {target} at position {position}")]
    OutOfRange {
        /// The number read.
        value: i64,
        /// The Rust type.
        target: &'static str,
        /// Where.
        position: usize,
    },
    /// Bytes were left after the value.
    #[error("{0} trailing byte(s) after the value")]
    TrailingBytes(usize),
    /// The Rust type uses a serde feature Avro binary cannot express.
    #[error("unsupported by the Avro codec: {0}")]
    Unsupported(&'static str),
    /// Anything else (e.g. an invalid value reported by a type's own deserializer).
    #[error("{0}")]
    Message(String),
}

impl serde::ser::Error for AvroError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        AvroError::Message(msg.to_string())
    }
}

impl serde::de::Error for AvroError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        AvroError::Message(msg.to_string())
    }
}

/// Appends `n` zigzag-encoded as an Avro `long`.
#[inline]
pub fn write_long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}
