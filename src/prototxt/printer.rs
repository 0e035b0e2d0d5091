//! Printer: protobuf wire bytes of a message → protobuf text format, in field-number order with
//! two-space indentation, the way Caffe's `TextFormat::Print` lays files out.

use super::wire::{Reader, Value};
use crate::proto::schema::{Kind, MessageDesc, ENUMS, MESSAGES};
use std::fmt::Write as _;

/// Prints wire bytes of `msg` as text. Unknown fields and malformed records are skipped (the input
/// comes from our own encoder, so neither occurs in practice).
pub fn print_wire(bytes: &[u8], msg: &'static MessageDesc) -> String {
    let mut out = String::new();
    print_message(bytes, msg, 0, &mut out);
    out
}

fn print_message(bytes: &[u8], msg: &'static MessageDesc, indent: usize, out: &mut String) {
    let mut r = Reader::new(bytes);
    while !r.is_empty() {
        let Some((number, value)) = r.record() else { return };
        let Some(f) = msg.field_by_number(number) else { continue };
        let pad = "  ".repeat(indent);
        match (f.kind, value) {
            (Kind::Message(idx), Value::Len(body)) => {
                let _ = writeln!(out, "{pad}{} {{", f.name);
                print_message(body, &MESSAGES[idx], indent + 1, out);
                let _ = writeln!(out, "{pad}}}");
            }
            (Kind::String | Kind::Bytes, Value::Len(body)) => {
                let _ = writeln!(out, "{pad}{}: \"{}\"", f.name, escape(body));
            }
            (kind, Value::Len(packed)) => {
                // A packed run of scalars: one line per element, as Caffe prints them.
                let mut pr = Reader::new(packed);
                while !pr.is_empty() {
                    let v = match kind {
                        Kind::Float => pr.fixed32().map(Value::Fixed32),
                        Kind::Double => pr.fixed64().map(Value::Fixed64),
                        _ => pr.varint().map(Value::Varint),
                    };
                    let Some(v) = v else { break };
                    let _ = writeln!(out, "{pad}{}: {}", f.name, scalar(kind, v));
                }
            }
            (kind, v) => {
                let _ = writeln!(out, "{pad}{}: {}", f.name, scalar(kind, v));
            }
        }
    }
}

/// Formats one scalar value of the given kind.
fn scalar(kind: Kind, v: Value<'_>) -> String {
    match (kind, v) {
        (Kind::Float, Value::Fixed32(bits)) => float(f64::from(f32::from_bits(bits)), true),
        (Kind::Double, Value::Fixed64(bits)) => float(f64::from_bits(bits), false),
        (Kind::Int32, Value::Varint(x)) => (x as i64 as i32).to_string(),
        (Kind::Int64, Value::Varint(x)) => (x as i64).to_string(),
        (Kind::Uint32, Value::Varint(x)) => (x as u32).to_string(),
        (Kind::Uint64, Value::Varint(x)) => x.to_string(),
        (Kind::Bool, Value::Varint(x)) => (x != 0).to_string(),
        (Kind::Enum(e), Value::Varint(x)) => {
            let v = x as i64 as i32;
            ENUMS[e].name_of(v).map_or_else(|| v.to_string(), str::to_string)
        }
        (_, other) => format!("{other:?}"),
    }
}

/// Shortest text that parses back to the same value (`1`, `0.0001`, `1e-10`, `inf`, `nan`).
fn float(v: f64, single: bool) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let s = if single { format!("{:?}", v as f32) } else { format!("{v:?}") };
    match s.strip_suffix(".0") {
        Some(int) => int.to_string(),
        None => s,
    }
}

/// C-style escaping of a string or bytes payload.
fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            for c in text.chars() {
                match c {
                    '\n' => s.push_str("\\n"),
                    '\r' => s.push_str("\\r"),
                    '\t' => s.push_str("\\t"),
                    '"' => s.push_str("\\\""),
                    '\'' => s.push_str("\\'"),
                    '\\' => s.push_str("\\\\"),
                    c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                        let _ = write!(s, "\\{:03o}", c as u32);
                    }
                    c => s.push(c),
                }
            }
        }
        Err(_) => {
            for &b in bytes {
                match b {
                    b'"' => s.push_str("\\\""),
                    b'\\' => s.push_str("\\\\"),
                    0x20..=0x7e => s.push(b as char),
                    _ => {
                        let _ = write!(s, "\\{b:03o}");
                    }
                }
            }
        }
    }
    s
}
