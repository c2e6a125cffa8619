//! serde → Avro binary.

use serde::ser::{self, Serialize};

use super::{AvroError, write_long};

/// Encodes `value` as Avro binary, appending to `out`.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), AvroError> {
    value.serialize(&mut Encoder { out })
}

/// A serde serializer writing Avro binary.
pub struct Encoder<'a> {
    out: &'a mut Vec<u8>,
}

impl Encoder<'_> {
    #[inline]
    fn bytes(&mut self, b: &[u8]) {
        write_long(self.out, b.len() as i64);
        self.out.extend_from_slice(b);
    }
}

/// Writes Avro's block-encoded arrays and maps: one block with the count, then a zero.
pub struct Block<'a, 'b> {
    enc: &'b mut Encoder<'a>,
    empty: bool,
}

impl Block<'_, '_> {
    fn end(self) {
        if !self.empty {
            self.enc.out.push(0);
        }
    }
}

impl<'a, 'b> ser::Serializer for &'b mut Encoder<'a> {
    type Ok = ();
    type Error = AvroError;
    type SerializeSeq = Block<'a, 'b>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = ser::Impossible<(), AvroError>;
    type SerializeMap = Block<'a, 'b>;
    type SerializeStruct = Self;
    type SerializeStructVariant = ser::Impossible<(), AvroError>;

    fn is_human_readable(&self) -> bool {
        false
    }
    fn serialize_bool(self, v: bool) -> Result<(), AvroError> {
        self.out.push(u8::from(v));
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), AvroError> {
        write_long(self.out, v.into());
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<(), AvroError> {
        write_long(self.out, v.into());
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), AvroError> {
        write_long(self.out, v.into());
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), AvroError> {
        write_long(self.out, v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), AvroError> {
        write_long(self.out, v.into());
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), AvroError> {
        write_long(self.out, v.into());
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), AvroError> {
        write_long(self.out, v.into());
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), AvroError> {
        let v = i64::try_from(v).map_err(|_| AvroError::Unsupported("u64 above i64::MAX"))?;
        write_long(self.out, v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), AvroError> {
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), AvroError> {
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), AvroError> {
        let mut buf = [0u8; 4];
        self.bytes(v.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), AvroError> {
        self.bytes(v.as_bytes());
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), AvroError> {
        self.bytes(v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), AvroError> {
        self.out.push(0); // union branch 0: null
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), AvroError> {
        self.out.push(2); // union branch 1, zigzag-encoded
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), AvroError> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), AvroError> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, index: u32, _: &'static str) -> Result<(), AvroError> {
        write_long(self.out, index.into());
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), AvroError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), AvroError> {
        Err(AvroError::Unsupported("enum variants with data"))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Block<'a, 'b>, AvroError> {
        let len = len.ok_or(AvroError::Unsupported("sequences of unknown length"))?;
        write_long(self.out, len as i64);
        Ok(Block { enc: self, empty: len == 0 })
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, AvroError> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, AvroError> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, AvroError> {
        Err(AvroError::Unsupported("enum variants with data"))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Block<'a, 'b>, AvroError> {
        let len = len.ok_or(AvroError::Unsupported("maps of unknown length"))?;
        write_long(self.out, len as i64);
        Ok(Block { enc: self, empty: len == 0 })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, AvroError> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, AvroError> {
        Err(AvroError::Unsupported("enum variants with data"))
    }
}

impl ser::SerializeSeq for Block<'_, '_> {
    type Ok = ();
    type Error = AvroError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), AvroError> {
        value.serialize(&mut *self.enc)
    }
    fn end(self) -> Result<(), AvroError> {
        Block::end(self);
        Ok(())
    }
}

impl ser::SerializeMap for Block<'_, '_> {
    type Ok = ();
    type Error = AvroError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), AvroError> {
        key.serialize(&mut *self.enc)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), AvroError> {
        value.serialize(&mut *self.enc)
    }
    fn end(self) -> Result<(), AvroError> {
        Block::end(self);
        Ok(())
    }
}

impl ser::SerializeTuple for &mut Encoder<'_> {
    type Ok = ();
    type Error = AvroError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), AvroError> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), AvroError> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut Encoder<'_> {
    type Ok = ();
    type Error = AvroError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), AvroError> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), AvroError> {
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Encoder<'_> {
    type Ok = ();
    type Error = AvroError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, value: &T) -> Result<(), AvroError> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), AvroError> {
        Ok(())
    }
}
