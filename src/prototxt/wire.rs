//! Protobuf wire-format primitives shared by the text parser (which encodes) and the printer
//! (which decodes): varints, tags and length-delimited records.

/// Wire type of varint-encoded fields.
pub const VARINT: u32 = 0;
/// Wire type of 64-bit fixed fields (`double`).
pub const FIXED64: u32 = 1;
/// Wire type of length-delimited fields (strings, bytes, messages, packed runs).
pub const LEN: u32 = 2;
/// Wire type of 32-bit fixed fields (`float`).
pub const FIXED32: u32 = 5;

/// Appends `v` as a base-128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends the key of field `number` with wire type `wire`.
pub fn put_tag(out: &mut Vec<u8>, number: u32, wire: u32) {
    put_varint(out, (u64::from(number) << 3) | u64::from(wire));
}

/// Appends a length-delimited record.
pub fn put_len(out: &mut Vec<u8>, number: u32, payload: &[u8]) {
    put_tag(out, number, LEN);
    put_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// A cursor over wire-format bytes.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// One decoded record value.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    /// A varint.
    Varint(u64),
    /// 8 fixed bytes (little endian).
    Fixed64(u64),
    /// 4 fixed bytes (little endian).
    Fixed32(u32),
    /// A length-delimited payload.
    Len(&'a [u8]),
}

impl<'a> Reader<'a> {
    /// Starts reading `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// True when every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Reads a varint; `None` on truncation or overflow.
    pub fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    /// Reads 4 little-endian bytes.
    pub fn fixed32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    /// Reads 8 little-endian bytes.
    pub fn fixed64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// Reads one record: `(field number, value)`; `None` on malformed input.
    pub fn record(&mut self) -> Option<(u32, Value<'a>)> {
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).ok()?;
        let value = match (key & 7) as u32 {
            VARINT => Value::Varint(self.varint()?),
            FIXED64 => Value::Fixed64(self.fixed64()?),
            LEN => {
                let n = usize::try_from(self.varint()?).ok()?;
                Value::Len(self.take(n)?)
            }
            FIXED32 => Value::Fixed32(self.fixed32()?),
            _ => return None,
        };
        Some((number, value))
    }
}
