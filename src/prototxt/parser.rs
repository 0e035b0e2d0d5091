//! Schema-driven parser: protobuf text format → protobuf wire bytes of a given message type.
//!
//! Parsing against the schema table lets every error name the exact position and field, and the
//! resulting bytes decode into the prost types with no reflection. Semantics follow protobuf's
//! `TextFormat::Parser` as Caffe uses it: unknown fields and repeated singular fields are errors,
//! `:` is optional before a message, `[a, b]` lists fill repeated fields, `;`/`,` may separate fields.

use super::lexer::{Lexer, Pos, Tok, Token};
use super::wire::{put_len, put_tag, put_varint, FIXED32, FIXED64, VARINT};
use crate::error::{Error, Result};
use crate::proto::schema::{FieldDesc, Kind, MessageDesc, ENUMS, MESSAGES};
use std::collections::HashSet;

/// Nesting deeper than this is refused (Caffe nets nest 4 deep; this guards the stack).
pub const MAX_DEPTH: usize = 64;

/// Where each entry of a top-level repeated message field starts (e.g. every `layer {`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spans {
    /// `(field name, position of the field name)` in source order.
    pub entries: Vec<(&'static str, Pos)>,
}

impl Spans {
    /// Position of the `index`-th entry of top-level field `field`.
    pub fn nth(&self, field: &str, index: usize) -> Option<Pos> {
        self.entries.iter().filter(|(f, _)| *f == field).nth(index).map(|&(_, p)| p)
    }
}

struct Parser<'a> {
    lex: Lexer<'a>,
    tok: Token,
}

/// Parses `src` as a `message` and returns its wire encoding and the top-level entry positions.
pub fn parse_to_wire(
    src: &str,
    file: &str,
    message: &'static MessageDesc,
) -> Result<(Vec<u8>, Spans)> {
    let mut lex = Lexer::new(src, file);
    let tok = lex.next_token()?;
    let mut p = Parser { lex, tok };
    let mut out = Vec::new();
    let mut spans = Spans::default();
    p.message_body(message, &mut out, None, 0, Some(&mut spans))?;
    Ok((out, spans))
}

impl<'a> Parser<'a> {
    fn advance(&mut self) -> Result<Token> {
        let next = self.lex.next_token()?;
        Ok(std::mem::replace(&mut self.tok, next))
    }

    fn err(&self, pos: Pos, msg: impl std::fmt::Display) -> Error {
        self.lex.error_at(pos, msg)
    }

    fn describe(t: &Tok) -> String {
        match t {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Number(s) => format!("number `{s}`"),
            Tok::Str(_) => "a string".into(),
            Tok::Punct(c) => format!("`{c}`"),
            Tok::Eof => "end of file".into(),
        }
    }

    /// Fields until `close` (or end of file at top level).
    fn message_body(
        &mut self,
        msg: &'static MessageDesc,
        out: &mut Vec<u8>,
        close: Option<char>,
        depth: usize,
        mut spans: Option<&mut Spans>,
    ) -> Result<()> {
        let mut seen: HashSet<u32> = HashSet::new();
        loop {
            match (&self.tok.tok, close) {
                (Tok::Eof, None) => return Ok(()),
                (Tok::Eof, Some(c)) => {
                    return Err(self.err(self.tok.pos, format!("expected `{c}` before end of file")))
                }
                (Tok::Punct(c), Some(cl)) if *c == cl => {
                    self.advance()?;
                    return Ok(());
                }
                _ => {}
            }
            let name_tok = self.advance()?;
            let name = match name_tok.tok {
                Tok::Ident(s) => s,
                other => {
                    return Err(self.err(
                        name_tok.pos,
                        format!("expected a field name, found {}", Self::describe(&other)),
                    ))
                }
            };
            let Some(field) = msg.field_by_name(&name) else {
                return Err(self
                    .err(name_tok.pos, format!("unknown field `{name}` in message {}", msg.name)));
            };
            if !field.repeated && !seen.insert(field.number) {
                return Err(self.err(
                    name_tok.pos,
                    format!("field `{name}` of {} is not repeated but is given twice", msg.name),
                ));
            }
            if let Some(s) = spans.as_deref_mut() {
                if field.repeated && matches!(field.kind, Kind::Message(_)) {
                    s.entries.push((field.name, name_tok.pos));
                }
            }
            self.field_value(field, out, depth, name_tok.pos)?;
            if matches!(self.tok.tok, Tok::Punct(';' | ',')) {
                self.advance()?;
            }
        }
    }

    fn field_value(
        &mut self,
        f: &'static FieldDesc,
        out: &mut Vec<u8>,
        depth: usize,
        at: Pos,
    ) -> Result<()> {
        let is_msg = matches!(f.kind, Kind::Message(_));
        let had_colon = self.tok.tok == Tok::Punct(':');
        if had_colon {
            self.advance()?;
        } else if !is_msg {
            return Err(self.err(
                self.tok.pos,
                format!(
                    "expected `:` after field `{}`, found {}",
                    f.name,
                    Self::describe(&self.tok.tok)
                ),
            ));
        }
        if self.tok.tok == Tok::Punct('[') {
            let open = self.advance()?;
            if !f.repeated {
                return Err(self.err(
                    open.pos,
                    format!("field `{}` is not repeated: no `[...]` list", f.name),
                ));
            }
            if self.tok.tok == Tok::Punct(']') {
                self.advance()?;
                return Ok(());
            }
            loop {
                self.single_value(f, out, depth, at)?;
                match self.tok.tok {
                    Tok::Punct(',') => {
                        self.advance()?;
                    }
                    Tok::Punct(']') => {
                        self.advance()?;
                        return Ok(());
                    }
                    _ => {
                        return Err(self.err(
                            self.tok.pos,
                            format!(
                                "expected `,` or `]` in the list of `{}`, found {}",
                                f.name,
                                Self::describe(&self.tok.tok)
                            ),
                        ))
                    }
                }
            }
        }
        self.single_value(f, out, depth, at)
    }

    fn single_value(
        &mut self,
        f: &'static FieldDesc,
        out: &mut Vec<u8>,
        depth: usize,
        at: Pos,
    ) -> Result<()> {
        if let Kind::Message(idx) = f.kind {
            let close = match self.tok.tok {
                Tok::Punct('{') => '}',
                Tok::Punct('<') => '>',
                _ => {
                    return Err(self.err(
                        self.tok.pos,
                        format!(
                            "expected `{{` to open message field `{}`, found {}",
                            f.name,
                            Self::describe(&self.tok.tok)
                        ),
                    ))
                }
            };
            if depth + 1 > MAX_DEPTH {
                return Err(self.err(at, format!("messages nested deeper than {MAX_DEPTH} levels")));
            }
            self.advance()?;
            let mut body = Vec::new();
            self.message_body(&MESSAGES[idx], &mut body, Some(close), depth + 1, None)?;
            put_len(out, f.number, &body);
            return Ok(());
        }
        let start = self.tok.pos;
        let neg = if self.tok.tok == Tok::Punct('-') {
            self.advance()?;
            true
        } else {
            false
        };
        let t = self.advance()?;
        let bad = |p: &Self, what: &str| {
            p.err(
                t.pos,
                format!("field `{}` expects {what}, found {}", f.name, Self::describe(&t.tok)),
            )
        };
        match f.kind {
            Kind::Float | Kind::Double => {
                let v = match &t.tok {
                    Tok::Number(s) => parse_float(s).ok_or_else(|| bad(self, "a number"))?,
                    Tok::Ident(s) => match s.to_ascii_lowercase().as_str() {
                        "inf" | "infinity" => f64::INFINITY,
                        "nan" => f64::NAN,
                        _ => return Err(bad(self, "a number")),
                    },
                    _ => return Err(bad(self, "a number")),
                };
                let v = if neg { -v } else { v };
                if f.kind == Kind::Float {
                    put_tag(out, f.number, FIXED32);
                    out.extend_from_slice(&(v as f32).to_le_bytes());
                } else {
                    put_tag(out, f.number, FIXED64);
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            Kind::Int32 | Kind::Int64 | Kind::Uint32 | Kind::Uint64 => {
                let Tok::Number(s) = &t.tok else { return Err(bad(self, "an integer")) };
                let mag = parse_uint(s).ok_or_else(|| bad(self, "an integer"))?;
                let (lo, hi): (i128, i128) = match f.kind {
                    Kind::Int32 => (i32::MIN.into(), i32::MAX.into()),
                    Kind::Int64 => (i64::MIN.into(), i64::MAX.into()),
                    Kind::Uint32 => (0, u32::MAX.into()),
                    _ => (0, u64::MAX.into()),
                };
                let v = if neg { -i128::from(mag) } else { i128::from(mag) };
                if v < lo || v > hi {
                    return Err(
                        self.err(start, format!("value of `{}` out of range [{lo}, {hi}]", f.name))
                    );
                }
                put_tag(out, f.number, VARINT);
                put_varint(out, v as i64 as u64);
            }
            Kind::Bool => {
                let v = match (&t.tok, neg) {
                    (Tok::Ident(s), false) if matches!(s.as_str(), "true" | "True" | "t") => true,
                    (Tok::Ident(s), false) if matches!(s.as_str(), "false" | "False" | "f") => {
                        false
                    }
                    (Tok::Number(s), false) if s == "1" => true,
                    (Tok::Number(s), false) if s == "0" => false,
                    _ => return Err(bad(self, "true or false")),
                };
                put_tag(out, f.number, VARINT);
                put_varint(out, u64::from(v));
            }
            Kind::String | Kind::Bytes => {
                let Tok::Str(mut bytes) = t.tok.clone() else {
                    return Err(bad(self, "a quoted string"));
                };
                if neg {
                    return Err(bad(self, "a quoted string"));
                }
                // Adjacent string literals concatenate, as in C.
                while let Tok::Str(more) = &self.tok.tok {
                    bytes.extend_from_slice(more);
                    self.advance()?;
                }
                if f.kind == Kind::String && std::str::from_utf8(&bytes).is_err() {
                    return Err(self.err(t.pos, format!("field `{}` must be valid UTF-8", f.name)));
                }
                put_len(out, f.number, &bytes);
            }
            Kind::Enum(e) => {
                let en = &ENUMS[e];
                let v = match &t.tok {
                    Tok::Ident(s) if !neg => en.value_of(s).ok_or_else(|| {
                        let names: Vec<&str> = en.values.iter().map(|(n, _)| *n).collect();
                        self.err(
                            t.pos,
                            format!(
                                "`{s}` is not a value of {} for field `{}` (one of: {})",
                                en.name,
                                f.name,
                                names.join(", ")
                            ),
                        )
                    })?,
                    Tok::Number(s) => {
                        let mag = parse_uint(s).and_then(|m| i32::try_from(m).ok());
                        let v = mag.map(|m| if neg { -m } else { m });
                        match v.filter(|v| en.name_of(*v).is_some()) {
                            Some(v) => v,
                            None => return Err(bad(self, &format!("a value of {}", en.name))),
                        }
                    }
                    _ => return Err(bad(self, &format!("a value of {}", en.name))),
                };
                put_tag(out, f.number, VARINT);
                put_varint(out, i64::from(v) as u64);
            }
            Kind::Message(_) => unreachable!("handled above"),
        }
        Ok(())
    }
}

/// Decimal, `0x` hex or leading-`0` octal unsigned integer.
fn parse_uint(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit()) {
        u64::from_str_radix(&s[1..], 8).ok()
    } else if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// A float literal: `1`, `1.5`, `.5`, `5.`, `1e-4`, optional `f`/`F` suffix.
fn parse_float(s: &str) -> Option<f64> {
    if s.starts_with("0x") || s.starts_with("0X") {
        return parse_uint(s).map(|v| v as f64);
    }
    let body = s.strip_suffix(['f', 'F']).unwrap_or(s);
    if body.is_empty()
        || !body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    body.parse::<f64>().ok()
}
