//! Tokenizer for protobuf text format as Caffe files use it: identifiers, numbers, quoted strings
//! with C escapes, punctuation and `#` comments, each token with its 1-based line and column.

use crate::error::{Error, Result};

/// A position in the source: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub col: u32,
}

/// Token kinds.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// `[A-Za-z_][A-Za-z0-9_]*`
    Ident(String),
    /// A numeric literal, kept as written (interpreted by the parser per field type).
    Number(String),
    /// A quoted string, escapes resolved.
    Str(Vec<u8>),
    /// One of `{ } [ ] < > : , ; -`.
    Punct(char),
    /// End of input.
    Eof,
}

/// A token with its start position.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// What it is.
    pub tok: Tok,
    /// Where it starts.
    pub pos: Pos,
}

/// Streaming tokenizer over a source string.
pub struct Lexer<'a> {
    src: &'a [u8],
    i: usize,
    pos: Pos,
    file: &'a str,
}

impl<'a> Lexer<'a> {
    /// Starts tokenizing `src`; `file` is used in error messages.
    pub fn new(src: &'a str, file: &'a str) -> Lexer<'a> {
        Lexer { src: src.as_bytes(), i: 0, pos: Pos { line: 1, col: 1 }, file }
    }

    /// An input error at `pos`: `file:line:col: msg`.
    pub fn error_at(&self, pos: Pos, msg: impl std::fmt::Display) -> Error {
        Error::input(format!("{}:{}:{}: {msg}", self.file, pos.line, pos.col))
    }

    fn peek_byte(&self, k: usize) -> Option<u8> {
        self.src.get(self.i + k).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = *self.src.get(self.i)?;
        self.i += 1;
        if b == b'\n' {
            self.pos.line += 1;
            self.pos.col = 1;
        } else if b & 0xC0 != 0x80 {
            // Count characters, not UTF-8 continuation bytes.
            self.pos.col += 1;
        }
        Some(b)
    }

    fn skip_space_and_comments(&mut self) {
        while let Some(b) = self.peek_byte(0) {
            if b == b'#' {
                while let Some(c) = self.peek_byte(0) {
                    if c == b'\n' {
                        break;
                    }
                    self.bump();
                }
            } else if b.is_ascii_whitespace() {
                self.bump();
            } else {
                break;
            }
        }
    }

    /// The next token.
    pub fn next_token(&mut self) -> Result<Token> {
        self.skip_space_and_comments();
        let pos = self.pos;
        let Some(b) = self.peek_byte(0) else {
            return Ok(Token { tok: Tok::Eof, pos });
        };
        let tok = match b {
            b'{' | b'}' | b'[' | b']' | b'<' | b'>' | b':' | b',' | b';' | b'-' => {
                self.bump();
                Tok::Punct(b as char)
            }
            b'"' | b'\'' => Tok::Str(self.string(pos)?),
            b'0'..=b'9' => Tok::Number(self.number()),
            b'.' if self.peek_byte(1).is_some_and(|c| c.is_ascii_digit()) => {
                Tok::Number(self.number())
            }
            b'A'..=b'Z' | b'a'..=b'z' | b'_' => {
                let start = self.i;
                while self.peek_byte(0).is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
                    self.bump();
                }
                Tok::Ident(String::from_utf8_lossy(&self.src[start..self.i]).into_owned())
            }
            _ => {
                let c = std::str::from_utf8(&self.src[self.i..])
                    .ok()
                    .and_then(|s| s.chars().next())
                    .unwrap_or(char::REPLACEMENT_CHARACTER);
                return Err(self.error_at(pos, format!("unexpected character {c:?}")));
            }
        };
        Ok(Token { tok, pos })
    }

    /// A numeric literal: digits, letters (hex, exponent, `f` suffix), dots, and a sign right
    /// after an exponent marker.
    fn number(&mut self) -> String {
        let start = self.i;
        let hex = self.peek_byte(0) == Some(b'0') && matches!(self.peek_byte(1), Some(b'x' | b'X'));
        while let Some(c) = self.peek_byte(0) {
            let sign_after_exp = (c == b'-' || c == b'+')
                && !hex
                && matches!(self.src.get(self.i.wrapping_sub(1)), Some(b'e' | b'E'));
            if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || sign_after_exp {
                self.bump();
            } else {
                break;
            }
        }
        String::from_utf8_lossy(&self.src[start..self.i]).into_owned()
    }

    fn string(&mut self, pos: Pos) -> Result<Vec<u8>> {
        let quote = self.bump().unwrap_or(b'"');
        let mut out = Vec::new();
        loop {
            let here = self.pos;
            match self.bump() {
                None | Some(b'\n') => {
                    return Err(self.error_at(pos, "string is not closed on its line"));
                }
                Some(c) if c == quote => return Ok(out),
                Some(b'\\') => self.escape(here, &mut out)?,
                Some(c) => out.push(c),
            }
        }
    }

    fn escape(&mut self, at: Pos, out: &mut Vec<u8>) -> Result<()> {
        let Some(c) = self.bump() else {
            return Err(self.error_at(at, "string ends inside an escape"));
        };
        match c {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'\\' | b'\'' | b'"' | b'?' => out.push(c),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match self.peek_byte(0) {
                        Some(d @ b'0'..=b'7') => {
                            self.bump();
                            v = v * 8 + u32::from(d - b'0');
                        }
                        _ => break,
                    }
                }
                if v > 255 {
                    return Err(self.error_at(at, "octal escape out of range"));
                }
                out.push(v as u8);
            }
            b'x' | b'X' => {
                let mut v = 0u32;
                let mut n = 0;
                while n < 2 {
                    match self.peek_byte(0).and_then(|d| (d as char).to_digit(16)) {
                        Some(d) => {
                            self.bump();
                            v = v * 16 + d;
                            n += 1;
                        }
                        None => break,
                    }
                }
                if n == 0 {
                    return Err(self.error_at(at, "\\x escape without hex digits"));
                }
                out.push(v as u8);
            }
            b'u' | b'U' => {
                let len = if c == b'u' { 4 } else { 8 };
                let mut v = 0u32;
                for _ in 0..len {
                    match self.peek_byte(0).and_then(|d| (d as char).to_digit(16)) {
                        Some(d) => {
                            self.bump();
                            v = v.wrapping_mul(16).wrapping_add(d);
                        }
                        None => return Err(self.error_at(at, "incomplete unicode escape")),
                    }
                }
                let ch = char::from_u32(v)
                    .ok_or_else(|| self.error_at(at, "unicode escape is not a character"))?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            other => {
                return Err(self.error_at(at, format!("unknown escape \\{}", other as char)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        let mut l = Lexer::new(s, "t");
        let mut v = Vec::new();
        loop {
            let t = l.next_token().unwrap();
            if t.tok == Tok::Eof {
                return v;
            }
            v.push(t.tok);
        }
    }

    #[test]
    fn numbers_keep_their_spelling() {
        assert_eq!(
            toks("1e-4 .5 0x1F 3.0f 2E+3"),
            ["1e-4", ".5", "0x1F", "3.0f", "2E+3"].map(|s| Tok::Number(s.into())).to_vec()
        );
        // A minus is its own token; `-inf` is `-` then an identifier.
        assert_eq!(toks("-inf"), vec![Tok::Punct('-'), Tok::Ident("inf".into())]);
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(
            toks(r#"'a"b' "c\'d\n\x41\101\u00e9""#),
            vec![Tok::Str(b"a\"b".to_vec()), Tok::Str("c'd\nAA\u{e9}".as_bytes().to_vec())]
        );
    }

    #[test]
    fn comments_and_positions() {
        let mut l = Lexer::new("# x { \n  name: # }\n 'é'", "f.prototxt");
        let t = l.next_token().unwrap();
        assert_eq!((t.tok, t.pos), (Tok::Ident("name".into()), Pos { line: 2, col: 3 }));
        assert_eq!(l.next_token().unwrap().tok, Tok::Punct(':'));
        assert_eq!(l.next_token().unwrap().pos, Pos { line: 3, col: 2 });
        let e = Lexer::new("\n  'abc", "f.prototxt").next_token().unwrap_err();
        assert_eq!(e.to_string(), "f.prototxt:2:3: string is not closed on its line");
        let mut l = Lexer::new("a $", "g");
        l.next_token().unwrap();
        assert_eq!(l.next_token().unwrap_err().to_string(), "g:1:3: unexpected character '$'");
    }
}
