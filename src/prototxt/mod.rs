//! Protobuf text format ("prototxt") for Caffe's schema: a hand-written tokenizer, a parser that
//! encodes straight to wire bytes against the schema table (so prost decodes the result), and a
//! printer that goes the other way.

pub mod lexer;
pub mod parser;
pub mod printer;
pub mod wire;

pub use lexer::Pos;
pub use parser::Spans;

use crate::error::{Error, Result};
use crate::proto::caffe::NetParameter;
use crate::proto::schema;

/// Parses text as message type `type_name` (e.g. `caffe.NetParameter`) into its prost type.
pub fn parse<M: prost::Message + Default>(
    src: &str,
    file: &str,
    type_name: &str,
) -> Result<(M, Spans)> {
    let (bytes, spans) = parser::parse_to_wire(src, file, schema::message(type_name))?;
    let msg = M::decode(bytes.as_slice())
        .map_err(|e| Error::input(format!("{file}: cannot decode parsed {type_name}: {e}")))?;
    Ok((msg, spans))
}

/// Prints a prost message of type `type_name` as text.
pub fn print<M: prost::Message>(msg: &M, type_name: &str) -> String {
    printer::print_wire(&msg.encode_to_vec(), schema::message(type_name))
}

/// Parses a prototxt holding a `NetParameter` (no upgrade applied).
pub fn parse_net(src: &str, file: &str) -> Result<(NetParameter, Spans)> {
    parse(src, file, "caffe.NetParameter")
}

/// Prints a `NetParameter` as prototxt.
pub fn print_net(net: &NetParameter) -> String {
    print(net, "caffe.NetParameter")
}

/// Reads and parses a prototxt file holding a `NetParameter` (no upgrade applied).
pub fn read_net_file(path: &std::path::Path) -> Result<(NetParameter, Spans)> {
    let src = std::fs::read(path)
        .map_err(|e| Error::input(format!("cannot read {}: {e}", path.display())))?;
    let src = String::from_utf8(src)
        .map_err(|e| Error::input(format!("{}: not UTF-8 text: {e}", path.display())))?;
    parse_net(&src, &path.display().to_string())
}
