//! A small, robust reader for the EDN subset Jepsen, Knossos and Porcupine histories use:
//! maps, vectors, lists, sets, keywords, symbols, strings, integers, floats, nil, booleans,
//! tagged values (`#inst "..."`, the tag is dropped), `#_` discards, `;` comments and
//! commas as whitespace.

use crate::error::ParseError;

/// Nesting deeper than this is rejected instead of overflowing the stack.
const DEPTH_MAX: usize = 64;

/// An EDN value with the line it starts on.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Edn {
    pub(crate) line: usize,
    pub(crate) kind: EdnKind,
}

/// The EDN value itself.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum EdnKind {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Keyword(String),
    Symbol(String),
    /// A vector, list or set.
    Seq(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
}

impl Edn {
    /// Looks up a keyword key in a map.
    pub(crate) fn get(&self, keyword: &str) -> Option<&Edn> {
        match &self.kind {
            EdnKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.kind, EdnKind::Keyword(name) if name == keyword))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Reads every top-level form of `text`.
pub(crate) fn read_all(text: &str) -> Result<Vec<Edn>, ParseError> {
    let mut reader = Reader {
        bytes: text.as_bytes(),
        text,
        position: 0,
        line: 1,
    };
    let mut forms = Vec::new();
    loop {
        reader.skip_whitespace();
        if reader.position >= reader.bytes.len() {
            return Ok(forms);
        }
        if let Some(form) = reader.read(0)? {
            forms.push(form);
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    text: &'a str,
    position: usize,
    line: usize,
}

fn is_delimiter(byte: u8) -> bool {
    byte.is_ascii_whitespace()
        || matches!(
            byte,
            b',' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'"' | b';'
        )
}

impl Reader<'_> {
    fn error(&self, reason: impl Into<String>) -> ParseError {
        ParseError::Syntax {
            line: self.line,
            reason: reason.into(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(byte) = self.peek() {
            match byte {
                b'\n' => {
                    self.line += 1;
                    self.position += 1;
                }
                b';' => {
                    while let Some(byte) = self.peek() {
                        if byte == b'\n' {
                            break;
                        }
                        self.position += 1;
                    }
                }
                b',' => self.position += 1,
                _ if byte.is_ascii_whitespace() => self.position += 1,
                _ => break,
            }
        }
    }

    /// Reads one form; `None` for a `#_` discard.
    fn read(&mut self, depth: usize) -> Result<Option<Edn>, ParseError> {
        if depth > DEPTH_MAX {
            return Err(self.error("nesting too deep"));
        }
        self.skip_whitespace();
        let line = self.line;
        let Some(byte) = self.peek() else {
            return Err(self.error("unexpected end of input (truncated file?)"));
        };
        let kind = match byte {
            b'[' | b'(' => {
                self.position += 1;
                EdnKind::Seq(self.read_seq(if byte == b'[' { b']' } else { b')' }, depth)?)
            }
            b'{' => {
                self.position += 1;
                let items = self.read_seq(b'}', depth)?;
                if items.len() % 2 != 0 {
                    return Err(ParseError::Syntax {
                        line,
                        reason: "map with an odd number of forms".to_string(),
                    });
                }
                let mut entries = Vec::with_capacity(items.len() / 2);
                let mut items = items.into_iter();
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    entries.push((k, v));
                }
                EdnKind::Map(entries)
            }
            b')' | b']' | b'}' => return Err(self.error(format!("unexpected '{}'", byte as char))),
            b'"' => EdnKind::Str(self.read_string()?),
            b'#' => {
                self.position += 1;
                match self.peek() {
                    Some(b'{') => {
                        self.position += 1;
                        EdnKind::Seq(self.read_seq(b'}', depth)?)
                    }
                    Some(b'_') => {
                        self.position += 1;
                        self.read(depth + 1)?;
                        return Ok(None);
                    }
                    Some(_) => {
                        // A tagged value: drop the tag, keep the value.
                        let tag = self.read_token();
                        if tag.is_empty() {
                            return Err(self.error("'#' without a tag"));
                        }
                        return match self.read(depth + 1)? {
                            Some(value) => Ok(Some(value)),
                            None => Err(self.error("tag without a value")),
                        };
                    }
                    None => return Err(self.error("unexpected end of input after '#'")),
                }
            }
            b'\\' => return Err(self.error("character literals are not supported")),
            _ => self.read_atom()?,
        };
        Ok(Some(Edn { line, kind }))
    }

    fn read_seq(&mut self, close: u8, depth: usize) -> Result<Vec<Edn>, ParseError> {
        let open_line = self.line;
        let mut items = Vec::new();
        loop {
            self.skip_whitespace();
            match self.peek() {
                None => {
                    return Err(self.error(format!(
                        "unexpected end of input: '{}' opened on line {open_line} is never closed (truncated file?)",
                        close as char
                    )))
                }
                Some(byte) if byte == close => {
                    self.position += 1;
                    return Ok(items);
                }
                Some(_) => {
                    if let Some(item) = self.read(depth + 1)? {
                        items.push(item);
                    }
                }
            }
        }
    }

    fn read_string(&mut self) -> Result<String, ParseError> {
        let start_line = self.line;
        self.position += 1;
        let mut out = String::new();
        loop {
            let Some(byte) = self.peek() else {
                return Err(ParseError::Syntax {
                    line: start_line,
                    reason: "unterminated string".to_string(),
                });
            };
            match byte {
                b'"' => {
                    self.position += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.position += 1;
                    let escaped = match self.peek() {
                        Some(b'n') => '\n',
                        Some(b't') => '\t',
                        Some(b'r') => '\r',
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        _ => return Err(self.error("bad escape in string")),
                    };
                    out.push(escaped);
                    self.position += 1;
                }
                _ => {
                    // Copy one UTF-8 character.
                    let rest = self.text.get(self.position..).unwrap_or("");
                    let Some(ch) = rest.chars().next() else {
                        return Err(self.error("invalid UTF-8 in string"));
                    };
                    if ch == '\n' {
                        self.line += 1;
                    }
                    out.push(ch);
                    self.position += ch.len_utf8();
                }
            }
        }
    }

    fn read_token(&mut self) -> &str {
        let start = self.position;
        while let Some(byte) = self.peek() {
            if is_delimiter(byte) || (byte == b'#' && self.position == start) {
                break;
            }
            self.position += 1;
        }
        self.text.get(start..self.position).unwrap_or("")
    }

    fn read_atom(&mut self) -> Result<EdnKind, ParseError> {
        let token = self.read_token().to_string();
        if token.is_empty() {
            // Not a delimiter we know and not a token: skip the byte and complain.
            self.position += 1;
            return Err(self.error("unexpected character"));
        }
        Ok(match token.as_str() {
            "nil" => EdnKind::Nil,
            "true" => EdnKind::Bool(true),
            "false" => EdnKind::Bool(false),
            _ if token.starts_with(':') => {
                let name = &token[1..];
                if name.is_empty() {
                    return Err(self.error("empty keyword"));
                }
                EdnKind::Keyword(name.to_string())
            }
            _ => {
                let first = token.as_bytes()[0];
                let numeric = first.is_ascii_digit()
                    || ((first == b'-' || first == b'+')
                        && token.as_bytes().get(1).is_some_and(u8::is_ascii_digit));
                if numeric {
                    let digits = token.trim_end_matches('N');
                    if let Ok(n) = digits.parse::<i64>() {
                        EdnKind::Int(n)
                    } else if let Ok(x) = token.trim_end_matches('M').parse::<f64>() {
                        EdnKind::Float(x)
                    } else {
                        return Err(self.error(format!("bad number {token:?}")));
                    }
                } else {
                    EdnKind::Symbol(token)
                }
            }
        })
    }
}
