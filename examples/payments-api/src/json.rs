//! A minimal JSON reader for flat objects, and a string quoter for writing JSON (RFC 8259).
//!
//! Owns: parsing one top-level object whose values are strings, numbers, booleans or null,
//! with full string-escape handling (§7, including surrogate pairs) and the number grammar
//! of §6 (kept as text, so the caller decides what an amount may look like).
//! Does not: accept nested objects or arrays, or keep the position of a field. Written by
//! hand because this example has no dependencies; a real service would use `serde_json`.
//!
//! Errors name a byte offset and what was expected, never the input text: a request body
//! can hold a card number.

use std::fmt;

/// Most fields accepted in one object; the charge request needs three.
pub const FIELD_COUNT_MAX: usize = 16;

/// A scalar JSON value. `Debug` elides string contents, which may be card numbers.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    String(String),
    /// The number exactly as written, already checked against the RFC 8259 grammar.
    Number(String),
    Bool(bool),
    Null,
}

impl Value {
    /// The JSON type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::Null => "null",
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(text) => write!(formatter, "String(<{} bytes>)", text.len()),
            Value::Number(text) => write!(formatter, "Number({text})"),
            Value::Bool(value) => write!(formatter, "Bool({value})"),
            Value::Null => formatter.write_str("Null"),
        }
    }
}

/// Why a body is not a flat JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset into the input where parsing stopped.
    pub offset: usize,
    pub reason: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} at byte {}", self.reason, self.offset)
    }
}

/// Parses `input` as one JSON object with scalar values, in document order.
/// Duplicate names are rejected rather than resolved, so no two readers can disagree.
pub fn parse_flat_object(input: &[u8]) -> Result<Vec<(String, Value)>, JsonError> {
    if let Err(error) = std::str::from_utf8(input) {
        return Err(JsonError {
            offset: error.valid_up_to(),
            reason: "body is not valid UTF-8",
        });
    }
    let mut parser = Parser { input, position: 0 };
    let fields = parser.object()?;
    parser.skip_whitespace();
    if parser.position != input.len() {
        return Err(parser.error("unexpected characters after the object"));
    }
    Ok(fields)
}

/// Returns `text` as a JSON string literal, quotes included.
pub fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            control if u32::from(control) < 0x20 => {
                quoted.push_str(&format!("\\u{:04x}", u32::from(control)));
            }
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    quoted
}

struct Parser<'a> {
    input: &'a [u8],
    position: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &'static str) -> JsonError {
        JsonError {
            offset: self.position,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.position).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.position += 1;
        }
    }

    fn expect(&mut self, byte: u8, reason: &'static str) -> Result<(), JsonError> {
        if self.peek() == Some(byte) {
            self.position += 1;
            Ok(())
        } else {
            Err(self.error(reason))
        }
    }

    fn object(&mut self) -> Result<Vec<(String, Value)>, JsonError> {
        self.skip_whitespace();
        self.expect(b'{', "expected a JSON object")?;
        let mut fields: Vec<(String, Value)> = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.position += 1;
            return Ok(fields);
        }
        loop {
            self.skip_whitespace();
            let name_offset = self.position;
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a field name in double quotes"));
            }
            let name = self.string()?;
            if fields.iter().any(|(existing, _)| *existing == name) {
                return Err(JsonError {
                    offset: name_offset,
                    reason: "duplicate field name",
                });
            }
            if fields.len() == FIELD_COUNT_MAX {
                return Err(JsonError {
                    offset: name_offset,
                    reason: "too many fields",
                });
            }
            self.skip_whitespace();
            self.expect(b':', "expected `:` after the field name")?;
            self.skip_whitespace();
            let value = self.value()?;
            fields.push((name, value));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.position += 1,
                Some(b'}') => {
                    self.position += 1;
                    return Ok(fields);
                }
                _ => return Err(self.error("expected `,` or `}` after a value")),
            }
        }
    }

    fn value(&mut self) -> Result<Value, JsonError> {
        match self.peek() {
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'{' | b'[') => Err(self.error("nested objects and arrays are not supported")),
            Some(_) => Err(self.error("expected a value")),
            None => Err(self.error("unexpected end of input")),
        }
    }

    fn literal(&mut self, word: &[u8], value: Value) -> Result<Value, JsonError> {
        if self.input[self.position..].starts_with(word) {
            self.position += word.len();
            Ok(value)
        } else {
            Err(self.error("expected a value"))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.position;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.position += 1;
        }
        self.position - start
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Result<String, JsonError> {
        let start = self.position;
        if self.peek() == Some(b'-') {
            self.position += 1;
        }
        match self.peek() {
            Some(b'0') => self.position += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.position += 1;
            if self.digits() == 0 {
                return Err(self.error("expected a digit after the decimal point"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.position += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.position += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("expected a digit in the exponent"));
            }
        }
        if matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.error("leading zeros are not allowed"));
        }
        let text = &self.input[start..self.position];
        Ok(String::from_utf8_lossy(text).into_owned())
    }

    /// Reads a string literal; the input is known to be valid UTF-8.
    fn string(&mut self) -> Result<String, JsonError> {
        self.expect(b'"', "expected a string")?;
        let mut bytes = Vec::new();
        loop {
            let Some(byte) = self.peek() else {
                return Err(self.error("unterminated string"));
            };
            match byte {
                b'"' => {
                    self.position += 1;
                    break;
                }
                b'\\' => {
                    self.position += 1;
                    let character = self.escape()?;
                    let mut encoded = [0u8; 4];
                    bytes.extend_from_slice(character.encode_utf8(&mut encoded).as_bytes());
                }
                0x00..=0x1f => return Err(self.error("control character in a string")),
                _ => {
                    bytes.push(byte);
                    self.position += 1;
                }
            }
        }
        String::from_utf8(bytes).map_err(|_| self.error("string is not valid UTF-8"))
    }

    /// Reads the escape after a backslash.
    fn escape(&mut self) -> Result<char, JsonError> {
        let Some(byte) = self.peek() else {
            return Err(self.error("unterminated string"));
        };
        self.position += 1;
        let character = match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(),
            _ => {
                self.position -= 1;
                return Err(self.error("invalid escape"));
            }
        };
        Ok(character)
    }

    /// Reads `XXXX` after `\u`, and a following `\uXXXX` low surrogate when needed.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        let code_point = match first {
            0xd800..=0xdbff => {
                if !self.input[self.position..].starts_with(b"\\u") {
                    return Err(self.error("high surrogate without a low surrogate"));
                }
                self.position += 2;
                let second = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&second) {
                    return Err(self.error("high surrogate without a low surrogate"));
                }
                0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(self.error("low surrogate without a high surrogate")),
            other => other,
        };
        char::from_u32(code_point).ok_or_else(|| self.error("invalid unicode escape"))
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut value = 0;
        for _ in 0..4 {
            let digit = match self.peek() {
                Some(byte @ b'0'..=b'9') => byte - b'0',
                Some(byte @ b'a'..=b'f') => byte - b'a' + 10,
                Some(byte @ b'A'..=b'F') => byte - b'A' + 10,
                _ => return Err(self.error("expected four hex digits after `\\u`")),
            };
            value = value * 16 + u32::from(digit);
            self.position += 1;
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<(String, Value)>, JsonError> {
        parse_flat_object(text.as_bytes())
    }

    fn string(text: &str) -> Value {
        Value::String(text.to_owned())
    }

    #[test]
    fn reads_the_three_charge_fields() {
        let fields = parse(
            r#" { "card_number" : "4242424242424242", "amount_cents":1234,
                 "currency":"EUR" } "#,
        )
        .unwrap();
        assert_eq!(
            fields,
            vec![
                ("card_number".to_owned(), string("4242424242424242")),
                ("amount_cents".to_owned(), Value::Number("1234".to_owned())),
                ("currency".to_owned(), string("EUR")),
            ]
        );
    }

    #[test]
    fn reads_every_scalar_type_and_the_empty_object() {
        assert_eq!(parse("{}").unwrap(), vec![]);
        let fields = parse(r#"{"a":true,"b":false,"c":null,"d":-0.5e+3}"#).unwrap();
        let values: Vec<Value> = fields.into_iter().map(|(_, value)| value).collect();
        assert_eq!(
            values,
            vec![
                Value::Bool(true),
                Value::Bool(false),
                Value::Null,
                Value::Number("-0.5e+3".to_owned())
            ]
        );
    }

    #[test]
    fn decodes_escapes_and_surrogate_pairs() {
        let fields = parse(r#"{"s":"a\"b\\c\/d\n\u0034\u00e9\ud83d\ude00"}"#).unwrap();
        assert_eq!(fields[0].1, string("a\"b\\c/d\n4é😀"));
    }

    #[test]
    fn rejects_malformed_input_with_an_offset() {
        let cases: &[(&str, &str, usize)] = &[
            ("", "expected a JSON object", 0),
            ("[]", "expected a JSON object", 0),
            ("{", "expected a field name in double quotes", 1),
            (r#"{"a" 1}"#, "expected `:` after the field name", 5),
            (r#"{"a":1,}"#, "expected a field name in double quotes", 7),
            (r#"{"a":1 "b":2}"#, "expected `,` or `}` after a value", 7),
            (
                r#"{"a":{}}"#,
                "nested objects and arrays are not supported",
                5,
            ),
            (
                r#"{"a":[1]}"#,
                "nested objects and arrays are not supported",
                5,
            ),
            (r#"{"a":01}"#, "leading zeros are not allowed", 6),
            (r#"{"a":1.}"#, "expected a digit after the decimal point", 7),
            (r#"{"a":tru}"#, "expected a value", 5),
            (
                r#"{"a":"x"} x"#,
                "unexpected characters after the object",
                10,
            ),
            (r#"{"a":"x"#, "unterminated string", 7),
            (r#"{"a":"\q"}"#, "invalid escape", 7),
            (
                r#"{"a":"\u12"}"#,
                "expected four hex digits after `\\u`",
                10,
            ),
            (
                r#"{"a":"\ud800"}"#,
                "high surrogate without a low surrogate",
                12,
            ),
            (
                r#"{"a":"\udc00"}"#,
                "low surrogate without a high surrogate",
                12,
            ),
            (r#"{"a":1,"a":2}"#, "duplicate field name", 7),
            ("{\"a\":\"\u{1}\"}", "control character in a string", 6),
        ];
        for (input, reason, offset) in cases {
            let error = parse(input).unwrap_err();
            assert_eq!(
                (error.reason, error.offset),
                (*reason, *offset),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn rejects_invalid_utf8() {
        let error = parse_flat_object(b"{\"a\":\"\xff\"}").unwrap_err();
        assert_eq!(error.reason, "body is not valid UTF-8");
        assert_eq!(error.offset, 6);
    }

    #[test]
    fn field_count_limit_boundary() {
        let object = |count: usize| {
            let fields: Vec<String> = (0..count).map(|index| format!("\"f{index}\":1")).collect();
            format!("{{{}}}", fields.join(","))
        };
        assert_eq!(
            parse(&object(FIELD_COUNT_MAX)).unwrap().len(),
            FIELD_COUNT_MAX
        );
        assert_eq!(
            parse(&object(FIELD_COUNT_MAX + 1)).unwrap_err().reason,
            "too many fields"
        );
    }

    #[test]
    fn debug_never_shows_string_contents() {
        let shown = format!("{:?}", string("4242424242424242"));
        assert_eq!(shown, "String(<16 bytes>)");
    }

    #[test]
    fn quote_escapes_what_json_requires() {
        assert_eq!(quote("a\"b\\c\nd\u{1}é"), r#""a\"b\\c\nd\u0001é""#);
        let round_trip = parse(&format!("{{\"k\":{}}}", quote("x\"\\\u{7}y"))).unwrap();
        assert_eq!(round_trip[0].1, string("x\"\\\u{7}y"));
    }
}
