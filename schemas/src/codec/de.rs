//! Avro binary → serde. Never panics and never over-allocates on malformed input.

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::AvroError;

/// Decodes one `T` from `input`, which must hold exactly one value.
pub fn decode<'de, T: de::Deserialize<'de>>(input: &'de [u8]) -> Result<T, AvroError> {
    let mut d = Decoder { input, pos: 0 };
    let value = T::deserialize(&mut d)?;
    if d.pos != input.len() {
        return Err(AvroError::TrailingBytes(input.len() - d.pos));
    }
    Ok(value)
}

/// A serde deserializer reading Avro binary.
pub struct Decoder<'de> {
    input: &'de [u8],
    pos: usize,
}

impl<'de> Decoder<'de> {
    /// A decoder reading `input` from its start.
    pub(crate) fn new(input: &'de [u8]) -> Decoder<'de> {
        Decoder { input, pos: 0 }
    }

    /// Fails unless everything was read.
    pub(crate) fn end(&self) -> Result<(), AvroError> {
        match self.input.len() - self.pos {
            0 => Ok(()),
            n => Err(AvroError::TrailingBytes(n)),
        }
    }

    /// An Avro `double`.
    #[inline]
    pub(crate) fn double(&mut self) -> Result<f64, AvroError> {
        let b = self.take(8)?;
        Ok(f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }

    /// The branch index of a union of `branches`.
    pub(crate) fn union_branch(&mut self, branches: i64) -> Result<i64, AvroError> {
        let position = self.pos;
        match self.long()? {
            i if (0..branches).contains(&i) => Ok(i),
            index => Err(AvroError::BadUnion { index, position }),
        }
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'de [u8], AvroError> {
        let rest = self.input.len() - self.pos;
        if n > rest {
            return Err(AvroError::Truncated { position: self.pos, needed: n - rest });
        }
        let s = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline]
    pub(crate) fn long(&mut self) -> Result<i64, AvroError> {
        let start = self.pos;
        let mut z: u64 = 0;
        let mut shift = 0;
        loop {
            let Some(&b) = self.input.get(self.pos) else {
                return Err(AvroError::Truncated { position: self.pos, needed: 1 });
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(AvroError::BadVarint(start));
            }
            z |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return Err(AvroError::BadVarint(start));
            }
        }
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    pub(crate) fn int<T: TryFrom<i64>>(&mut self, target: &'static str) -> Result<T, AvroError> {
        let position = self.pos;
        let v = self.long()?;
        T::try_from(v).map_err(|_| AvroError::OutOfRange { value: v, target, position })
    }

    fn length(&mut self) -> Result<usize, AvroError> {
        let position = self.pos;
        let n = self.long()?;
        let len = usize::try_from(n).map_err(|_| AvroError::BadLength { length: n, position })?;
        if len > self.input.len() - self.pos {
            return Err(AvroError::Truncated { position: self.pos, needed: len - (self.input.len() - self.pos) });
        }
        Ok(len)
    }

    #[inline]
    pub(crate) fn str(&mut self) -> Result<&'de str, AvroError> {
        let len = self.length()?;
        let position = self.pos;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).map_err(|_| AvroError::Utf8(position))
    }

    /// Reads a block count: negative counts are followed by the block's byte size (skipped).
    pub(crate) fn block_count(&mut self) -> Result<usize, AvroError> {
        let position = self.pos;
        let n = self.long()?;
        if n < 0 {
            let _size = self.long()?;
        }
        let count = n.checked_abs().ok_or(AvroError::BadLength { length: n, position })?;
        // Every item takes at least one byte except in pathological schemas; cap by what is left so a
        // hostile count cannot make us allocate.
        usize::try_from(count).map_err(|_| AvroError::BadLength { length: n, position })
    }
}

struct Blocks<'a, 'de> {
    d: &'a mut Decoder<'de>,
    left: usize,
    done: bool,
}

impl Blocks<'_, '_> {
    fn next(&mut self) -> Result<bool, AvroError> {
        if self.done {
            return Ok(false);
        }
        if self.left == 0 {
            self.left = self.d.block_count()?;
            if self.left == 0 {
                self.done = true;
                return Ok(false);
            }
        }
        self.left -= 1;
        Ok(true)
    }
    fn hint(&self) -> Option<usize> {
        Some(self.left.min(self.d.input.len() - self.d.pos).min(4096))
    }
}

impl<'de> de::SeqAccess<'de> for Blocks<'_, 'de> {
    type Error = AvroError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, AvroError> {
        if self.next()? { seed.deserialize(&mut *self.d).map(Some) } else { Ok(None) }
    }
    fn size_hint(&self) -> Option<usize> {
        self.hint()
    }
}

impl<'de> de::MapAccess<'de> for Blocks<'_, 'de> {
    type Error = AvroError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, AvroError> {
        if self.next()? { seed.deserialize(&mut *self.d).map(Some) } else { Ok(None) }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, AvroError> {
        seed.deserialize(&mut *self.d)
    }
    fn size_hint(&self) -> Option<usize> {
        self.hint()
    }
}

struct Fields<'a, 'de> {
    d: &'a mut Decoder<'de>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Fields<'_, 'de> {
    type Error = AvroError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, AvroError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.d).map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// An enum whose symbol index was read and checked already.
struct Symbol<'a, 'de> {
    d: &'a mut Decoder<'de>,
    index: u32,
}

impl<'de, 'a> de::EnumAccess<'de> for Symbol<'a, 'de> {
    type Error = AvroError;
    type Variant = &'a mut Decoder<'de>;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self::Variant), AvroError> {
        let v = seed.deserialize(self.index.into_deserializer())?;
        Ok((v, self.d))
    }
}

impl<'de> de::VariantAccess<'de> for &mut Decoder<'de> {
    type Error = AvroError;
    fn unit_variant(self) -> Result<(), AvroError> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _: T) -> Result<T::Value, AvroError> {
        Err(AvroError::Unsupported("enum variants with data"))
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, AvroError> {
        Err(AvroError::Unsupported("enum variants with data"))
    }
    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], _: V) -> Result<V::Value, AvroError> {
        Err(AvroError::Unsupported("enum variants with data"))
    }
}

macro_rules! int_method {
    ($method:ident, $visit:ident, $t:ty) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AvroError> {
            let v: $t = self.int(stringify!($t))?;
            visitor.$visit(v)
        }
    };
}

impl<'de> de::Deserializer<'de> for &mut Decoder<'de> {
    type Error = AvroError;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, AvroError> {
        Err(AvroError::Unsupported("self-describing deserialization (Avro binary needs the schema's shape)"))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AvroError> {
        let position = self.pos;
        match self.take(1)?[0] {
            0 => visitor.visit_bool(false),
            1 => visitor.visit_bool(true),
            byte => Err(AvroError::BadBool { byte, position }),
        }
    }

    int_method!(deserialize_i8, visit_i8, i8);
    int_method!(deserialize_i16, visit_i16, i16);
    int_method!(deserialize_i32, visit_i32, i32);
    int_method!(deserialize_i64, visit_i64, i64);
    int_method!(deserialize_u8, visit_u8, u8);
    int_method!(deserialize_u16, visit_u16, u16);
    int_method!(deserialize_u32, visit_u32, u32);
    int_method!(deserialize_u64, visit_u64, u64);

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AvroError> {
        let b = self.take(4)?;
        visitor.visit_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AvroError> {
        let b = self.take(8)?;
        visitor.visit_f64(f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }
    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AvroError> {
        let s = self.str()?;
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => visitor.visit_char(c),
            _ => Err(AvroError::Message(format!("expected one character, got {s:?}"))),
        }
    }
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AvroError> {
        visitor.visit_borrowed_str(self.str()?)
    }
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AvroError> {
        visitor.visit_borrowed_str(self.str()?)
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AvroError> {
        let len = self.length()?;
        visitor.visit_borrowed_bytes(self.take(len)?)
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AvroError> {
        self.deserialize_bytes(visitor)
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AvroError> {
        let position = self.pos;
        match self.long()? {
            0 => visitor.visit_none(),
            1 => visitor.visit_some(self),
            index => Err(AvroError::BadUnion { index, position }),
        }
    }
    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AvroError> {
        visitor.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, AvroError> {
        visitor.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, AvroError> {
        visitor.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AvroError> {
        visitor.visit_seq(Blocks { d: self, left: 0, done: false })
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, AvroError> {
        visitor.visit_seq(Fields { d: self, left: len })
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, AvroError> {
        visitor.visit_seq(Fields { d: self, left: len })
    }
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AvroError> {
        visitor.visit_map(Blocks { d: self, left: 0, done: false })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, AvroError> {
        visitor.visit_seq(Fields { d: self, left: fields.len() })
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        symbols: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, AvroError> {
        let position = self.pos;
        let index = self.long()?;
        match u32::try_from(index) {
            Ok(i) if (i as usize) < symbols.len() => visitor.visit_enum(Symbol { d: self, index: i }),
            _ => Err(AvroError::BadEnum { index, symbols: symbols.len(), position }),
        }
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, _: V) -> Result<V::Value, AvroError> {
        Err(AvroError::Unsupported("identifiers"))
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, AvroError> {
        Err(AvroError::Unsupported("ignored values"))
    }
}
