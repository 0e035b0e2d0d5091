//! The Caffe schema: prost types generated from `proto/caffe.proto` and the field table that the
//! text-format codec reads (names, numbers, kinds), both produced by `build.rs`.

/// Prost types of package `caffe` (`NetParameter`, `LayerParameter`, `BlobProto`, ...).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod caffe {
    include!(concat!(env!("OUT_DIR"), "/caffe.rs"));
}

/// The schema table: one entry per message and enum of `proto/caffe.proto`.
pub mod schema {
    /// How a field is encoded and printed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Kind {
        /// `double` (wire type 1).
        Double,
        /// `float` (wire type 5).
        Float,
        /// `int64` (varint).
        Int64,
        /// `uint64` (varint).
        Uint64,
        /// `int32` (varint, sign-extended to 64 bits).
        Int32,
        /// `uint32` (varint).
        Uint32,
        /// `bool` (varint).
        Bool,
        /// `string` (length-delimited, UTF-8).
        String,
        /// `bytes` (length-delimited).
        Bytes,
        /// An enum: index into [`ENUMS`].
        Enum(usize),
        /// A message: index into [`MESSAGES`].
        Message(usize),
    }

    /// One field of a message.
    #[derive(Debug)]
    pub struct FieldDesc {
        /// Field name as in caffe.proto.
        pub name: &'static str,
        /// Field number.
        pub number: u32,
        /// Encoding.
        pub kind: Kind,
        /// `repeated` label.
        pub repeated: bool,
        /// `[packed = true]` option.
        pub packed: bool,
    }

    /// One message type; fields sorted by number.
    #[derive(Debug)]
    pub struct MessageDesc {
        /// Fully qualified name, e.g. `caffe.LayerParameter`.
        pub name: &'static str,
        /// Fields in field-number order.
        pub fields: &'static [FieldDesc],
    }

    /// One enum type.
    #[derive(Debug)]
    pub struct EnumDesc {
        /// Fully qualified name, e.g. `caffe.Phase`.
        pub name: &'static str,
        /// `(NAME, number)` pairs in declaration order.
        pub values: &'static [(&'static str, i32)],
    }

    include!(concat!(env!("OUT_DIR"), "/caffe_schema.rs"));

    impl MessageDesc {
        /// The field called `name`, if any.
        pub fn field_by_name(&self, name: &str) -> Option<&'static FieldDesc> {
            self.fields.iter().find(|f| f.name == name)
        }

        /// The field with number `number`, if any.
        pub fn field_by_number(&self, number: u32) -> Option<&'static FieldDesc> {
            self.fields.iter().find(|f| f.number == number)
        }
    }

    impl EnumDesc {
        /// The value of the constant called `name`.
        pub fn value_of(&self, name: &str) -> Option<i32> {
            self.values.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
        }

        /// The name of the constant with value `value` (the first one declared, if aliased).
        pub fn name_of(&self, value: i32) -> Option<&'static str> {
            self.values.iter().find(|&&(_, v)| v == value).map(|&(n, _)| n)
        }
    }

    /// The message called `name` (fully qualified, e.g. `caffe.NetParameter`).
    ///
    /// Panics if the schema lacks it: names passed here are compile-time constants of this crate.
    pub fn message(name: &str) -> &'static MessageDesc {
        MESSAGES
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("message {name} missing from proto/caffe.proto"))
    }
}
