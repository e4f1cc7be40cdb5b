//! The JSON format: objects whose fields match columns case-insensitively, as ksqlDB's JSON
//! format reads them, and the writer that turns rows into JSON.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{DecodeError, Decoder, EncodeError, Encoder, MAX_RECORD_BYTES};
use crate::cause::Cause;
use crate::sql::ast::SqlType;
use crate::value::{Column, Text, Value};

/// JSON objects; field names match columns case-insensitively, as ksqlDB's JSON format does.
///
/// Flat records (strings without escapes, plain numbers, booleans, nulls) take a hand-written
/// scanner that reads each value straight into its column; anything else (nested values,
/// escapes, numbers a double cannot hold exactly, malformed text) goes through serde_json,
/// which also words every error. The scanner only takes values whose type already fits the
/// column and leaves every conversion to `TypedSeed`; a test checks the two paths agree.
pub struct JsonDecoder {
    fields: Vec<Field>,
    width: usize,
}

struct Field {
    column: Column,
    /// Where the column sits in the row.
    place: usize,
    /// The name in lower case: JSON fields are usually spelled so or as the column is.
    lower: Box<[u8]>,
    /// What follows the opening quote of this field's name in most records: the name in
    /// lower case or as declared, the closing quote and the colon.
    spellings: [Box<[u8]>; 2],
    /// False when no query reads the column: the scanner then checks the value's type
    /// without keeping it.
    read: bool,
}

impl Field {
    fn is_named(&self, name: &[u8]) -> bool {
        let column = self.column.name.as_bytes();
        column.len() == name.len()
            && (name == &*self.lower || name == column || name.eq_ignore_ascii_case(column))
    }
}

impl JsonDecoder {
    /// A decoder whose row is exactly `columns`, in order.
    pub fn new(columns: Vec<Column>) -> JsonDecoder {
        let width = columns.len();
        JsonDecoder::placed(columns.into_iter().enumerate(), width)
    }

    /// A decoder that fills the given places of a row `width` wide.
    pub fn placed(columns: impl IntoIterator<Item = (usize, Column)>, width: usize) -> JsonDecoder {
        JsonDecoder {
            fields: columns
                .into_iter()
                .map(|(place, column)| {
                    let lower = column.name.to_ascii_lowercase();
                    let spelled = |name: &str| format!("{name}\":").into_bytes().into();
                    Field {
                        spellings: [spelled(&lower), spelled(&column.name)],
                        lower: lower.into_bytes().into(),
                        column,
                        place,
                        read: true,
                    }
                })
                .collect(),
            width,
        }
    }

    /// Leaves out of the row the columns no query reads (`read` is indexed by place): their
    /// values are checked against the column type as before, so the same records are
    /// refused, but not kept.
    pub fn reading_only(mut self, read: &[bool]) -> JsonDecoder {
        for field in &mut self.fields {
            field.read = read.get(field.place).copied().unwrap_or(true);
        }
        self
    }

    fn clear(&self, row: &mut [Value]) {
        for field in self.fields.iter().filter(|f| f.read) {
            row[field.place] = Value::Null;
        }
    }

    fn decode_with_serde(&self, bytes: &[u8], row: &mut [Value]) -> Result<(), DecodeError> {
        self.clear(row);
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        RowSeed {
            fields: &self.fields,
            row,
        }
        .deserialize(&mut deserializer)
        .map_err(|e| {
            let message = e.to_string();
            match e.classify() {
                serde_json::error::Category::Data if message.starts_with("not-an-object") => {
                    DecodeError::NotAnObject
                }
                serde_json::error::Category::Data => {
                    DecodeError::WrongType(message, Some(Cause::new(e)))
                }
                _ => DecodeError::Malformed(message, Some(Cause::new(e))),
            }
        })?;
        deserializer.end().map_err(malformed)
    }

    /// The field a name refers to, trying `hint` first.
    fn field_index(&self, name: &[u8], hint: usize) -> Option<usize> {
        let matches = |i: &usize| self.fields[*i].is_named(name);
        Some(hint)
            .filter(|i| *i < self.fields.len())
            .filter(matches)
            .or_else(|| (0..self.fields.len()).find(matches))
    }

    /// The scanner for flat records; `None` hands the record to serde_json.
    fn decode_flat(&self, bytes: &[u8], row: &mut [Value]) -> Option<()> {
        // Up to 64 columns, the ones a record lacks are found by a mask and nulled at the
        // end, instead of nulling every column first.
        let tracked = self.fields.len() <= 64;
        if !tracked {
            self.clear(row);
        }
        let mut seen = 0u64;
        // Records that are not all ASCII are checked as UTF-8 once as a whole (serde_json
        // refuses bad UTF-8 anywhere); the strings kept are then checked on their own, which
        // for short ASCII strings costs next to nothing.
        let ascii = is_ascii(bytes);
        if !ascii {
            std::str::from_utf8(bytes).ok()?;
        }
        let mut scan = Scanner {
            rest: bytes,
            ascii,
            last_word: bytes
                .last_chunk::<8>()
                .map(|last| u64::from_le_bytes(*last)),
        };
        scan.skip_whitespace();
        scan.expect(b'{')?;
        scan.skip_whitespace();
        if scan.peek()? == b'}' {
            scan.advance(1);
        } else {
            scan.expect(b'"')?;
            // Fields usually come in column order and spelled alike from record to record:
            // try the next column's usual spellings before reading the name.
            let mut hint = 0;
            loop {
                // The name's opening quote was read.
                let found = match self.fields.get(hint) {
                    Some(field) if scan.name_is(field) => Some(hint),
                    _ => {
                        let name = scan.plain_string()?;
                        scan.skip_whitespace();
                        scan.expect(b':')?;
                        self.field_index(name, hint)
                    }
                };
                scan.skip_whitespace();
                match found {
                    Some(index) => {
                        let field = &self.fields[index];
                        let slot = field.read.then(|| &mut row[field.place]);
                        scan.value_into(&field.column.sql_type, slot)?;
                        seen |= 1u64.checked_shl(index as u32).unwrap_or(0);
                        hint = index + 1;
                    }
                    None => scan.skip_value()?,
                }
                // Compact JSON goes straight on to the next name.
                if let [b',', b'"', rest @ ..] = scan.rest {
                    scan.rest = rest;
                    continue;
                }
                scan.skip_whitespace();
                match scan.next()? {
                    b',' => {
                        scan.skip_whitespace();
                        scan.expect(b'"')?;
                    }
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        scan.skip_whitespace();
        if !scan.rest.is_empty() {
            return None;
        }
        if tracked {
            for (index, field) in self.fields.iter().enumerate() {
                if seen & (1 << index) == 0 && field.read {
                    row[field.place] = Value::Null;
                }
            }
        }
        Some(())
    }
}

/// serde_json's syntax error, kept as the cause of the record's.
fn malformed(error: serde_json::Error) -> DecodeError {
    DecodeError::Malformed(error.to_string(), Some(Cause::new(error)))
}

impl Decoder for JsonDecoder {
    fn decode_into(&self, bytes: &[u8], row: &mut [Value]) -> Result<(), DecodeError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(DecodeError::Oversize(bytes.len()));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(DecodeError::Empty);
        }
        if self.decode_flat(bytes, row).is_some() {
            return Ok(());
        }
        self.decode_with_serde(bytes, row)
    }

    fn width(&self) -> usize {
        self.width
    }
}

/// A cursor over one record's bytes for the flat-record scanner.
struct Scanner<'a> {
    /// What is left to read.
    rest: &'a [u8],
    /// True when the whole record is ASCII.
    ascii: bool,
    /// The record's last eight bytes, when it has as many: what is left of a number near
    /// the end is read from them.
    last_word: Option<u64>,
}

/// Powers of ten a double holds exactly: a mantissa below 2^53 times or over one of these is
/// correctly rounded, and is what serde_json computes for the same text.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

const POWERS_OF_TEN: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    fn advance(&mut self, n: usize) {
        self.rest = self.rest.get(n..).unwrap_or_default();
    }

    fn next(&mut self) -> Option<u8> {
        let (&byte, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    #[inline(always)]
    fn skip_whitespace(&mut self) {
        // Compact JSON has none: one compare settles it.
        if self.rest.first().is_some_and(|&b| b > b' ') {
            return;
        }
        while let [b' ' | b'\t' | b'\n' | b'\r', rest @ ..] = self.rest {
            self.rest = rest;
        }
    }

    /// Steps over the field's name, closing quote and colon when the record spells the
    /// name one of the usual ways (the opening quote was read).
    fn name_is(&mut self, field: &Field) -> bool {
        for spelling in &field.spellings {
            if starts_with(self.rest, spelling) {
                self.advance(spelling.len());
                return true;
            }
        }
        false
    }

    /// The rest of a string whose opening quote was read, when it has no escapes.
    fn plain_string(&mut self) -> Option<&'a [u8]> {
        let stop = first_needing_care(self.rest)?;
        let (text, rest) = self.rest.split_at_checked(stop)?;
        let (&b'"', rest) = rest.split_first()? else {
            return None;
        };
        self.rest = rest;
        Some(text)
    }

    /// As `plain_string`, as text.
    fn plain_str(&mut self) -> Option<&'a str> {
        let bytes = self.plain_string()?;
        // The record was found all ASCII (or checked as UTF-8) once as a whole; a string of
        // an ASCII record needs no second look.
        if self.ascii || bytes.is_ascii() {
            // SAFETY: the bytes are ASCII, a part of an all-ASCII record or checked just now,
            // and ASCII is UTF-8. The standard check costs some 150 instructions whatever
            // the length, more than the rest of a short string's decoding.
            Some(unsafe { std::str::from_utf8_unchecked(bytes) })
        } else {
            std::str::from_utf8(bytes).ok()
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.rest = self.rest.strip_prefix(word)?;
        Some(())
    }

    /// Reads a run of digits onto `mantissa`, eight at a time. Past 18 digits the caller
    /// gives up, so wrapping is harmless.
    fn digits(&mut self, mantissa: &mut u64, count: &mut u32) {
        loop {
            let word = match self.rest.first_chunk::<8>() {
                Some(chunk) => u64::from_le_bytes(*chunk),
                // Near the end, the last bytes followed by zero bytes (not digits): shifted
                // down out of the record's last word, which stays in a register, rather than
                // copied out, which stalls the load that reads them back.
                None => match self.last_word {
                    Some(last) if !self.rest.is_empty() => last >> (8 * (8 - self.rest.len())),
                    _ => {
                        let mut padded = [0u8; 8];
                        padded[..self.rest.len()].copy_from_slice(self.rest);
                        u64::from_le_bytes(padded)
                    }
                },
            };
            let run = digit_run(word);
            if run == 0 {
                break;
            }
            // The run's digits moved to the top of the word; the zero bytes below read as
            // leading zeros.
            let value = digits_value(word << (64 - 8 * run));
            *mantissa = mantissa
                .wrapping_mul(POWERS_OF_TEN[run as usize])
                .wrapping_add(value);
            *count += run;
            self.advance(run as usize);
            if run < 8 {
                break;
            }
        }
    }

    /// A JSON number as an integer, or as a double when it has a fraction or exponent.
    fn number(&mut self) -> Option<Number> {
        let negative = self.peek()? == b'-';
        if negative {
            self.advance(1);
        }
        let (mut mantissa, mut count) = (0u64, 0u32);
        match self.peek()? {
            b'0' => {
                self.advance(1);
                count = 1;
            }
            b'1'..=b'9' => self.digits(&mut mantissa, &mut count),
            _ => return None,
        }
        if matches!(self.peek(), Some(b'0'..=b'9')) {
            return None;
        }
        let mut exponent = 0i32;
        let mut decimal = false;
        if self.peek() == Some(b'.') {
            self.advance(1);
            let before = count;
            self.digits(&mut mantissa, &mut count);
            if count == before {
                return None;
            }
            exponent = -i32::try_from(count - before).ok()?;
            decimal = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.advance(1);
            let sign = match self.peek()? {
                b'-' => {
                    self.advance(1);
                    -1
                }
                b'+' => {
                    self.advance(1);
                    1
                }
                _ => 1,
            };
            let (mut power, mut power_digits) = (0u64, 0u32);
            self.digits(&mut power, &mut power_digits);
            if power_digits == 0 || power_digits > 3 {
                return None;
            }
            exponent += sign * i32::try_from(power).ok()?;
            decimal = true;
        }
        // Beyond 18 digits the mantissa may have wrapped; serde_json takes those.
        if count > 18 {
            return None;
        }
        if !decimal {
            // serde_json reads -0 as a double.
            if negative && mantissa == 0 {
                return None;
            }
            let value = i64::try_from(mantissa).ok()?;
            return Some(Number::Integer(if negative { -value } else { value }));
        }
        if mantissa >= 1 << 53 {
            return None;
        }
        let power = *EXACT_POWERS_OF_TEN.get(exponent.unsigned_abs() as usize)?;
        let magnitude = if exponent >= 0 {
            mantissa as f64 * power
        } else {
            mantissa as f64 / power
        };
        Some(Number::Double(if negative {
            -magnitude
        } else {
            magnitude
        }))
    }

    /// Reads one value straight into its column's slot (no moves through results: on this
    /// path they cost more than the parsing), or only checks it when `slot` is `None`. Only
    /// values that already have the column's type, or numbers that widen to DOUBLE, are
    /// read here; `None` leaves the rest (strings of numbers, errors) to serde_json and
    /// `TypedSeed`.
    fn value_into(&mut self, sql_type: &SqlType, slot: Option<&mut Value>) -> Option<()> {
        let value = match (self.peek()?, sql_type) {
            (b'"', SqlType::String) => {
                self.advance(1);
                let text = self.plain_str()?;
                if let Some(slot) = slot {
                    slot.set_text(text);
                }
                return Some(());
            }
            (b'-' | b'0'..=b'9', _) => match (self.number()?, sql_type) {
                (Number::Integer(i), SqlType::Bigint) => Value::Integer(i),
                (Number::Integer(i), SqlType::Int) if i32::try_from(i).is_ok() => Value::Integer(i),
                (Number::Integer(i), SqlType::Double) => Value::Double(i as f64),
                (Number::Double(d), SqlType::Double) => Value::Double(d),
                _ => return None,
            },
            (b't', SqlType::Boolean) => {
                self.literal(b"true")?;
                Value::Boolean(true)
            }
            (b'f', SqlType::Boolean) => {
                self.literal(b"false")?;
                Value::Boolean(false)
            }
            (b'n', _) => {
                self.literal(b"null")?;
                Value::Null
            }
            _ => return None,
        };
        if let Some(slot) = slot {
            slot.put(value);
        }
        Some(())
    }

    /// Steps over a value no column wants.
    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.advance(1);
                self.plain_string()?;
            }
            b'-' | b'0'..=b'9' => {
                self.number()?;
            }
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            _ => return None,
        }
        Some(())
    }
}

/// True when every byte is ASCII, eight bytes at a time. The standard `is_ascii` compiles
/// to a byte loop here, some 180 instructions for a 116-byte record against some 50.
fn is_ascii(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    let high = (&mut words).fold(0u64, |high, word| {
        high | u64::from_le_bytes(word.try_into().unwrap_or([0xff; 8]))
    });
    high & 0x8080_8080_8080_8080 == 0 && words.remainder().is_ascii()
}

/// `text.starts_with(prefix)`, for prefixes of 8 to 16 bytes (most field names with their
/// quote and colon) as two overlapping words rather than a call to memcmp.
fn starts_with(text: &[u8], prefix: &[u8]) -> bool {
    let word = |bytes: &[u8], at: usize| -> u64 {
        let mut chunk = [0u8; 8];
        chunk.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(chunk)
    };
    let n = prefix.len();
    if (8..=16).contains(&n) && text.len() >= n {
        word(text, 0) == word(prefix, 0) && word(text, n - 8) == word(prefix, n - 8)
    } else {
        text.starts_with(prefix)
    }
}

/// The high bit of each byte of the word that is a quote, a backslash or a control
/// character. Zero-byte tests: a false flag can only sit above a true one, so the lowest
/// flag is exact.
fn care_flags(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |w: u64| w.wrapping_sub(ONES) & !w & HIGH_BITS;
    let quote = zero_byte(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(word ^ (ONES * u64::from(b'\\')));
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH_BITS;
    quote | backslash | control
}

/// Where the first quote, backslash or control character is, eight bytes at a time.
fn first_needing_care(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(word) = bytes.get(at..at + 8) {
        let flags = care_flags(u64::from_le_bytes(word.try_into().ok()?));
        if flags != 0 {
            return Some(at + (flags.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    bytes[at..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|found| at + found)
}

/// How many ASCII digits the word starts with (first byte lowest), 0 to 8. A byte that is
/// not a digit gets its high bit set; a carry from it can only flag bytes above it, so the
/// lowest flag is exact.
fn digit_run(word: u64) -> u32 {
    let offset = word ^ 0x3030_3030_3030_3030;
    let not_digit = (offset | offset.wrapping_add(0x7676_7676_7676_7676)) & 0x8080_8080_8080_8080;
    not_digit.trailing_zeros() / 8
}

/// The value of eight bytes that are each an ASCII digit or zero (a leading zero), read
/// little-endian: the first digit is in the lowest byte.
fn digits_value(word: u64) -> u64 {
    let mut value = word & 0x0F0F_0F0F_0F0F_0F0F;
    value = value.wrapping_mul(10 * 256 + 1) >> 8;
    value = (value & 0x00FF_00FF_00FF_00FF).wrapping_mul(100 * 65_536 + 1) >> 16;
    (value & 0x0000_FFFF_0000_FFFF).wrapping_mul(10_000 * (1 << 32) + 1) >> 32
}

enum Number {
    Integer(i64),
    Double(f64),
}

struct RowSeed<'a> {
    fields: &'a [Field],
    row: &'a mut [Value],
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match self.fields.iter().find(|f| f.is_named(key.as_bytes())) {
                Some(field) => {
                    let column = &field.column;
                    let value = map.next_value_seed(TypedSeed(&column.sql_type, &column.name))?;
                    if field.read {
                        self.row[field.place] = value;
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom("not-an-object"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom("not-an-object"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom("not-an-object"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom("not-an-object"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom("not-an-object"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom("not-an-object"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom("not-an-object"))
    }
}

/// One JSON value read as a column type: numbers widen to DOUBLE, anything reads as STRING,
/// and other mismatches are errors naming both types.
struct TypedSeed<'a>(&'a SqlType, &'a str);

impl<'de> DeserializeSeed<'de> for TypedSeed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        if let SqlType::Decimal { precision, scale } = self.0 {
            // The number's own digits: a double would lose those past the 17th.
            let raw: Box<serde_json::value::RawValue> = de::Deserialize::deserialize(deserializer)?;
            return self.decimal(raw.get(), *precision, *scale);
        }
        deserializer.deserialize_any(self)
    }
}

impl TypedSeed<'_> {
    fn mismatch<E: de::Error>(&self, got: &str) -> E {
        E::custom(format!("field {}: expected {}, got {got}", self.1, self.0))
    }

    /// A DECIMAL from a JSON number or string, as KsqlJsonDeserializer reads it: the
    /// value must fit the column's precision and scale without rounding.
    fn decimal<E: de::Error>(&self, raw: &str, precision: u8, scale: u8) -> Result<Value, E> {
        let text = match raw.as_bytes().first() {
            Some(b'n') if raw == "null" => return Ok(Value::Null),
            Some(b'"') => serde_json::from_str::<String>(raw).map_err(E::custom)?,
            Some(b'-' | b'0'..=b'9') => raw.to_string(),
            _ => return Err(self.mismatch(raw)),
        };
        crate::decimal::Decimal::parse(&text)
            .and_then(|d| d.fit(precision, scale))
            .map(|d| Value::Decimal(Box::new(d)))
            .map_err(|e| E::custom(format!("field {}: {e}", self.1)))
    }
}

impl<'de> Visitor<'de> for TypedSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {}", self.0)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        match self.0 {
            SqlType::Boolean => Ok(Value::Boolean(b)),
            SqlType::String => Ok(Value::String(b.to_string().into())),
            _ => Err(self.mismatch("a boolean")),
        }
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        match self.0 {
            SqlType::Int if i32::try_from(i).is_err() => Err(E::custom(format!(
                "field {}: {i} is out of range for INTEGER",
                self.1
            ))),
            SqlType::Int | SqlType::Bigint => Ok(Value::Integer(i)),
            SqlType::Double => Ok(Value::Double(i as f64)),
            SqlType::String => Ok(Value::String(i.to_string().into())),
            // ksqlDB's JSON holds DATE as days, TIME as milliseconds of the day and
            // TIMESTAMP as epoch milliseconds.
            SqlType::Timestamp => Ok(Value::Timestamp(i)),
            SqlType::Date => i32::try_from(i)
                .map(Value::Date)
                .map_err(|_| self.mismatch(&format!("{i}, out of range for DATE"))),
            SqlType::Time if (0..86_400_000).contains(&i) => Ok(Value::Time(i as i32)),
            SqlType::Time => Err(self.mismatch(&format!("{i}, not a time of day in milliseconds"))),
            _ => Err(self.mismatch("a number")),
        }
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        match i64::try_from(u) {
            Ok(i) => self.visit_i64(i),
            Err(_) => match self.0 {
                SqlType::Double => Ok(Value::Double(u as f64)),
                SqlType::String => Ok(Value::String(u.to_string().into())),
                _ => Err(E::custom(format!(
                    "field {}: {u} is out of range for {}",
                    self.1, self.0
                ))),
            },
        }
    }

    fn visit_f64<E: de::Error>(self, d: f64) -> Result<Value, E> {
        match self.0 {
            SqlType::Double => Ok(Value::Double(d)),
            SqlType::String => Ok(Value::String(d.to_string().into())),
            _ => Err(self.mismatch(&format!("the decimal {d}"))),
        }
    }

    /// Text in a number or boolean column is read as ksqlDB's JSON format coerces it
    /// (JsonSerdeUtils: Integer.parseInt, Long.parseLong, Double.parseDouble, "true"/"false").
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        let coerced = match self.0 {
            SqlType::String => return Ok(Value::String(s.into())),
            SqlType::Int => s.parse::<i32>().ok().map(|i| Value::Integer(i64::from(i))),
            SqlType::Bigint => s.parse::<i64>().ok().map(Value::Integer),
            SqlType::Double => s.parse::<f64>().ok().map(Value::Double),
            SqlType::Boolean if s.eq_ignore_ascii_case("true") => Some(Value::Boolean(true)),
            SqlType::Boolean if s.eq_ignore_ascii_case("false") => Some(Value::Boolean(false)),
            SqlType::Date | SqlType::Time | SqlType::Timestamp => match s.parse::<i64>() {
                Ok(i) => return self.visit_i64(i),
                Err(_) => None,
            },
            SqlType::Bytes => crate::value::base64_bytes(s).map(Value::Bytes),
            _ => None,
        };
        coerced.ok_or_else(|| self.mismatch(&format!("the string {s:?}")))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let SqlType::Array(inner) = self.0 else {
            return Err(self.mismatch("an array"));
        };
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(TypedSeed(inner, self.1))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        match self.0 {
            SqlType::Map(inner) => {
                let mut entries: Vec<(Text, Value)> = Vec::new();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let value = map.next_value_seed(TypedSeed(inner, self.1))?;
                    match entries.iter_mut().find(|(k, _)| *k == *key) {
                        Some(entry) => entry.1 = value,
                        None => entries.push((Text::from(&*key), value)),
                    }
                }
                return Ok(Value::Map(entries));
            }
            SqlType::Struct(fields) => {
                // KsqlJsonDeserializer: a field matches as spelled, else upper-cased;
                // missing fields are null and others are ignored.
                let mut values = vec![Value::Null; fields.len()];
                let mut exact = vec![false; fields.len()];
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let found = fields
                        .iter()
                        .position(|(n, _)| *n == *key)
                        .map(|i| (i, true))
                        .or_else(|| {
                            fields
                                .iter()
                                .position(|(n, _)| {
                                    n.eq_ignore_ascii_case(&key) && *n == key.to_uppercase()
                                })
                                .filter(|i| !exact[*i])
                                .map(|i| (i, false))
                        });
                    match found {
                        Some((i, spelled)) => {
                            values[i] = map.next_value_seed(TypedSeed(&fields[i].1, self.1))?;
                            exact[i] |= spelled;
                        }
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                return Ok(Value::Struct(
                    fields
                        .iter()
                        .map(|(name, _)| Text::from(name.as_str()))
                        .zip(values)
                        .collect(),
                ));
            }
            _ => {}
        }
        if *self.0 == SqlType::String {
            let object: serde_json::Map<String, serde_json::Value> =
                de::Deserialize::deserialize(de::value::MapAccessDeserializer::new(&mut map))?;
            return Ok(Value::String(
                serde_json::Value::Object(object).to_string().into(),
            ));
        }
        Err(self.mismatch("an object"))
    }
}

pub struct JsonEncoder {
    fields: JsonFields,
}

impl JsonEncoder {
    pub fn new(names: &[String]) -> JsonEncoder {
        JsonEncoder {
            fields: JsonFields::new(names),
        }
    }
}

impl Encoder for JsonEncoder {
    fn encode_into(&self, values: &[Value], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        with_json_buf(out, |buf| self.fields.write_object(buf, values));
        Ok(())
    }
}

/// Output bytes written at a cursor into a buffer whose bytes past the cursor stay
/// allocated: a piece of known bound (a field name with its quotes and colon, a number's
/// digits) is copied whole into the room ahead and the cursor moved by its length, one
/// bounds check and no call, where `Vec::extend_from_slice` checks capacity and calls
/// memcpy for each piece. What lies past the cursor is left over and never read.
#[derive(Debug, Default, Clone)]
pub struct JsonBuf {
    bytes: Vec<u8>,
    len: usize,
}

/// How many bytes a short piece is kept padded to and copied as.
const PIECE: usize = 32;

/// Text written often (a field name with the separator before it): up to `PIECE` bytes
/// padded, or longer.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Short { bytes: [u8; PIECE], len: u8 },
    Long(Box<[u8]>),
}

impl Piece {
    pub fn new(text: &[u8]) -> Piece {
        if text.len() > PIECE {
            return Piece::Long(text.into());
        }
        let mut bytes = [0; PIECE];
        bytes[..text.len()].copy_from_slice(text);
        Piece::Short {
            bytes,
            len: text.len() as u8,
        }
    }
}

impl JsonBuf {
    /// An empty buffer with room for `bytes` bytes before it grows.
    pub fn with_room(bytes: usize) -> JsonBuf {
        JsonBuf {
            bytes: vec![0; bytes],
            len: 0,
        }
    }

    /// Writes after the bytes `bytes` holds.
    pub fn from_vec(bytes: Vec<u8>) -> JsonBuf {
        JsonBuf {
            len: bytes.len(),
            bytes,
        }
    }

    pub fn into_vec(mut self) -> Vec<u8> {
        self.bytes.truncate(self.len);
        self.bytes
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The `n` bytes past the cursor, made room for first.
    #[inline]
    fn room(&mut self, n: usize) -> &mut [u8] {
        let end = self.len + n;
        if end > self.bytes.len() {
            self.grow(end);
        }
        &mut self.bytes[self.len..end]
    }

    #[cold]
    fn grow(&mut self, end: usize) {
        let size = end.max(self.bytes.capacity()).max(2 * self.bytes.len());
        self.bytes.resize(size, 0);
    }

    #[inline]
    pub fn push(&mut self, byte: u8) {
        self.room(1)[0] = byte;
        self.len += 1;
    }

    #[inline]
    pub fn extend(&mut self, bytes: &[u8]) {
        self.room(bytes.len()).copy_from_slice(bytes);
        self.len += bytes.len();
    }

    #[inline]
    pub fn piece(&mut self, piece: &Piece) {
        match piece {
            Piece::Short { bytes, len } => self.padded(bytes, usize::from(*len)),
            Piece::Long(bytes) => self.extend(bytes),
        }
    }

    /// The first `len` bytes of `bytes`, copied as all `N`.
    #[inline]
    pub fn padded<const N: usize>(&mut self, bytes: &[u8; N], len: usize) {
        self.room(N).copy_from_slice(bytes);
        self.len += len.min(N);
    }

    /// An integer as JSON writes it, eight digits at a time.
    #[inline]
    pub fn integer(&mut self, value: i64) {
        const ASCII_ZEROS: u64 = 0x3030_3030_3030_3030;
        let magnitude = value.unsigned_abs();
        if magnitude >= 10_000_000_000_000_000 {
            let mut text = itoa::Buffer::new();
            return self.extend(text.format(value).as_bytes());
        }
        let room = self.room(24);
        room[0] = b'-';
        let at = usize::from(value < 0);
        // Up to 16 digits: the leading part (1 to 8 digits), then eight more when longer.
        let (lead, rest) = if magnitude >= 100_000_000 {
            (magnitude / 100_000_000, Some(magnitude % 100_000_000))
        } else {
            (magnitude, None)
        };
        let digits = eight_digits(lead as u32);
        // Leading zero digits sit in the low bytes; at least one digit is written.
        let zeros = ((digits.trailing_zeros() / 8) as usize).min(7);
        let lead_len = 8 - zeros;
        room[at..at + 8].copy_from_slice(&((digits | ASCII_ZEROS) >> (8 * zeros)).to_le_bytes());
        let mut written = at + lead_len;
        if let Some(rest) = rest {
            let digits = eight_digits(rest as u32) | ASCII_ZEROS;
            room[written..written + 8].copy_from_slice(&digits.to_le_bytes());
            written += 8;
        }
        self.len += written;
    }

    /// A string as JSON writes it.
    pub fn string(&mut self, s: &str) {
        let bytes = s.as_bytes();
        if first_needing_care(bytes).is_none() {
            let room = self.room(bytes.len() + 2);
            room[0] = b'"';
            room[1..=bytes.len()].copy_from_slice(bytes);
            room[bytes.len() + 1] = b'"';
            self.len += bytes.len() + 2;
        } else {
            self.escaped(bytes);
        }
    }

    /// Bytes as a base64 string (BYTES, and a dead letter's raw key and value), encoded
    /// straight into the buffer.
    pub fn base64_string(&mut self, bytes: &[u8]) {
        use base64::Engine as _;
        let engine = &base64::engine::general_purpose::STANDARD;
        let len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
        let room = self.room(len + 2);
        room[0] = b'"';
        let written = engine.encode_slice(bytes, &mut room[1..=len]).unwrap_or(0);
        room[written + 1] = b'"';
        self.len += written + 2;
    }

    /// A string with quotes, backslashes or control characters, escaped as serde_json
    /// escapes them: the runs between those bytes are copied whole. Dead letters carry the
    /// bad record's text, which is full of quotes.
    #[cold]
    fn escaped(&mut self, mut bytes: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.push(b'"');
        while let Some(at) = first_needing_care(bytes) {
            self.extend(&bytes[..at]);
            match bytes[at] {
                b'"' => self.extend(b"\\\""),
                b'\\' => self.extend(b"\\\\"),
                b'\n' => self.extend(b"\\n"),
                b'\r' => self.extend(b"\\r"),
                b'\t' => self.extend(b"\\t"),
                0x08 => self.extend(b"\\b"),
                0x0c => self.extend(b"\\f"),
                control => self.extend(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(control >> 4)],
                    HEX[usize::from(control & 0xf)],
                ]),
            }
            bytes = &bytes[at + 1..];
        }
        self.extend(bytes);
        self.push(b'"');
    }

    /// One value as JSON, straight into the buffer: on the hot path no JSON tree is built.
    /// Numbers as serde_json writes them; a non-finite double as ksqlDB's JSON writer (Jackson)
    /// writes it, the string "NaN", "Infinity" or "-Infinity".
    pub fn value(&mut self, value: &Value) {
        match value {
            Value::Null => self.extend(b"null"),
            Value::Boolean(b) => self.extend(if *b { b"true" } else { b"false" }),
            Value::Integer(i) => self.integer(*i),
            Value::Double(d) if d.is_finite() => {
                self.extend(zmij::Buffer::new().format_finite(*d).as_bytes())
            }
            Value::Double(d) if d.is_nan() => self.extend(b"\"NaN\""),
            Value::Double(d) if *d > 0.0 => self.extend(b"\"Infinity\""),
            Value::Double(_) => self.extend(b"\"-Infinity\""),
            Value::String(s) => self.string(s),
            Value::Array(items) => {
                self.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.push(b',');
                    }
                    self.value(item);
                }
                self.push(b']');
            }
            other => self.value_other(other),
        }
    }

    /// The types ksqlDB's JSON writes through Connect's logical types: DECIMAL as a number
    /// with every digit of its scale, DATE as days, TIME and TIMESTAMP as milliseconds,
    /// BYTES as base64, MAP and STRUCT as objects.
    #[inline(never)]
    fn value_other(&mut self, value: &Value) {
        match value {
            // itoa rather than `integer`: a third caller would stop `integer` being inlined
            // into `value`, which the tumbling query's output pays for on every number.
            Value::Decimal(d) => self.extend(d.to_string().as_bytes()),
            Value::Date(days) => self.extend(itoa::Buffer::new().format(*days).as_bytes()),
            Value::Time(millis) => self.extend(itoa::Buffer::new().format(*millis).as_bytes()),
            Value::Timestamp(millis) => self.extend(itoa::Buffer::new().format(*millis).as_bytes()),
            Value::Bytes(bytes) => self.string(&crate::value::base64_text(bytes)),
            Value::Map(entries) | Value::Struct(entries) => {
                self.push(b'{');
                for (i, (name, item)) in entries.iter().enumerate() {
                    if i > 0 {
                        self.push(b',');
                    }
                    self.string(name);
                    self.push(b':');
                    self.value(item);
                }
                self.push(b'}');
            }
            other => self.value(other),
        }
    }
}

/// The eight decimal digits of a number below 10^8 (leading zeros included), one per
/// byte as a value 0 to 9, the first digit in the lowest byte. Split in halves, quarters
/// and digits by multiplying all lanes of the word at once, as in SWAR integer printing.
fn eight_digits(value: u32) -> u64 {
    let value = u64::from(value);
    // Two four-digit halves in 32-bit lanes, the leading half in the low lane.
    let halves = (value / 10_000) | ((value % 10_000) << 32);
    // x * 10486 >> 20 is x / 100 below 10^4; each lane's product stays in its lane.
    let hundreds = ((halves * 10_486) >> 20) & 0x0000_007F_0000_007F;
    let quarters = hundreds | ((halves - hundreds * 100) << 16);
    // x * 103 >> 10 is x / 10 below 100.
    let tens = ((quarters * 103) >> 10) & 0x000F_000F_000F_000F;
    tens | ((quarters - tens * 10) << 8)
}

/// Lets a writer that fills a `Vec` use the buffer.
fn with_json_buf(out: &mut Vec<u8>, write: impl FnOnce(&mut JsonBuf)) {
    let mut buf = JsonBuf::from_vec(std::mem::take(out));
    write(&mut buf);
    *out = buf.into_vec();
}

/// Column names escaped once, each with the separator before it and its colon, for writing
/// many objects with them.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonFields {
    prefixes: Vec<Piece>,
}

impl JsonFields {
    pub fn new(names: &[String]) -> JsonFields {
        JsonFields {
            prefixes: names
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let mut prefix = vec![if i == 0 { b'{' } else { b',' }];
                    write_json_string(&mut prefix, name);
                    prefix.push(b':');
                    Piece::new(&prefix)
                })
                .collect(),
        }
    }

    /// The values as a JSON object, in column order.
    #[inline]
    pub fn write_object(&self, out: &mut JsonBuf, values: &[Value]) {
        if values.is_empty() || self.prefixes.is_empty() {
            return out.extend(b"{}");
        }
        for (prefix, value) in self.prefixes.iter().zip(values) {
            out.piece(prefix);
            out.value(value);
        }
        out.push(b'}');
    }
}

/// One value as JSON, appended to `out`.
pub fn write_json_value(out: &mut Vec<u8>, value: &Value) {
    with_json_buf(out, |buf| buf.value(value));
}

pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    with_json_buf(out, |buf| buf.string(s));
}

/// Columns as a JSON object in column order.
pub fn write_json_object(out: &mut Vec<u8>, names: &[String], values: &[Value]) {
    with_json_buf(out, |buf| {
        buf.push(b'{');
        for (i, (name, value)) in names.iter().zip(values).enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            buf.string(name);
            buf.push(b':');
            buf.value(value);
        }
        buf.push(b'}');
    });
}

/// A single column written as a bare JSON value rather than inside an object: a JSON key
/// of one column, or a value with `WRAP_SINGLE_VALUE=false`.
pub struct JsonValueDecoder {
    column: Column,
    place: usize,
    width: usize,
}

impl JsonValueDecoder {
    pub fn new(place: usize, column: Column, width: usize) -> JsonValueDecoder {
        JsonValueDecoder {
            column,
            place,
            width,
        }
    }
}

impl Decoder for JsonValueDecoder {
    fn decode_into(&self, bytes: &[u8], row: &mut [Value]) -> Result<(), DecodeError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(DecodeError::Oversize(bytes.len()));
        }
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let value = TypedSeed(&self.column.sql_type, &self.column.name)
            .deserialize(&mut deserializer)
            .map_err(|e| match e.classify() {
                serde_json::error::Category::Data => {
                    DecodeError::WrongType(e.to_string(), Some(Cause::new(e)))
                }
                _ => malformed(e),
            })?;
        deserializer.end().map_err(malformed)?;
        row[self.place] = value;
        Ok(())
    }

    fn width(&self) -> usize {
        self.width
    }
}

/// Writes one column as a bare JSON value.
pub struct JsonValueEncoder;

impl Encoder for JsonValueEncoder {
    fn encode_into(&self, values: &[Value], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match values.first() {
            Some(value) => write_json_value(out, value),
            None => out.extend_from_slice(b"null"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut texts: Vec<String> = (0u8..0x80).map(|b| format!("a{}b", b as char)).collect();
        texts.extend([
            r#"{"order_id": broken"#.to_string(),
            "quote \" and back\\slash, twice: \"\\".to_string(),
            "line\nbreak\ttab\r\u{1}\u{1f} é ü 日本".to_string(),
            "\"".repeat(40),
        ]);
        for text in texts {
            let mut buf = super::JsonBuf::from_vec(Vec::new());
            buf.string(&text);
            let written = buf.into_vec();
            assert_eq!(
                String::from_utf8(written).unwrap(),
                serde_json::to_string(&text).unwrap(),
                "{text:?}"
            );
        }
    }

    use super::*;

    #[test]
    fn the_encoder_writes_what_serde_json_would() {
        let long = "A_COLUMN_NAME_WELL_BEYOND_THIRTY_TWO_BYTES";
        let names: Vec<String> = ["A", "B\"q", "C", "D", "E", "F", "G", long, "I"]
            .into_iter()
            .map(String::from)
            .collect();
        let values = vec![
            Value::Integer(-7),
            Value::Double(1.0),
            Value::Double(f64::NAN),
            Value::String("tab\t\u{e9}".into()),
            Value::Array(vec![Value::Null, Value::Boolean(true)]),
            Value::Double(0.1 + 0.2),
            Value::String("a plain string longer than eight bytes".into()),
            Value::String("eight by\"tes and a \\ later\u{1}".into()),
            Value::String("caf\u{e9} \u{2713} \u{7f}".into()),
        ];
        let direct = JsonEncoder::new(&names).encode(&values).unwrap();
        let tree: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .zip(&values)
            .map(|(n, v)| (n.clone(), v.to_json()))
            .collect();
        assert_eq!(
            String::from_utf8(direct).unwrap(),
            serde_json::to_string(&tree).unwrap()
        );
    }

    #[test]
    fn integers_are_written_as_the_standard_library_writes_them() {
        let mut cases = vec![0, 1, -1, 9, -9, i64::MIN, i64::MIN + 1, i64::MAX];
        for power in 1..19 {
            let p = 10i64.pow(power);
            cases.extend([p - 1, p, p + 1, -(p - 1), -p, -(p + 1)]);
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            cases.push((seed as i64) >> (seed % 64));
        }
        // A small buffer, so that it grows along the way.
        let mut buf = JsonBuf::with_room(3);
        let mut expected = String::new();
        for case in cases {
            buf.integer(case);
            buf.push(b' ');
            expected.push_str(&format!("{case} "));
        }
        assert_eq!(String::from_utf8_lossy(buf.as_bytes()), expected);
    }

    #[test]
    fn a_json_buf_appends_to_what_a_vec_held() {
        let mut out = b"[".to_vec();
        write_json_value(&mut out, &Value::Integer(12));
        write_json_string(&mut out, "x\"y");
        assert_eq!(out, br#"[12"x\"y""#);
        let mut buf = JsonBuf::from_vec(out);
        buf.piece(&Piece::new(b"]"));
        assert_eq!(buf.into_vec(), br#"[12"x\"y"]"#);
    }

    fn columns() -> Vec<Column> {
        [
            ("ORDER_ID", SqlType::Bigint),
            ("CUSTOMER_ID", SqlType::String),
            ("ORDER_TOTAL", SqlType::Double),
        ]
        .into_iter()
        .map(|(name, sql_type)| Column {
            name: name.into(),
            sql_type,
            key: false,
        })
        .collect()
    }

    /// The flat-record scanner must read every record exactly as serde_json does, and hand
    /// serde_json whatever it is unsure of.
    #[test]
    fn the_flat_scanner_agrees_with_serde_json() {
        let mut columns = columns();
        for (name, sql_type) in [
            ("FLAG", SqlType::Boolean),
            ("LABEL", SqlType::String),
            ("SMALL", SqlType::Int),
        ] {
            columns.push(Column {
                name: name.into(),
                sql_type,
                key: false,
            });
        }
        let decoder = JsonDecoder::new(columns);
        let records: &[&str] = &[
            r#"{"order_id":1,"customer_id":"c1","order_total":12.5}"#,
            r#" { "ORDER_ID" : -42 , "Customer_Id" : "" , "order_total" : 0 } "#,
            r#"{"order_total":-0}"#,
            r#"{"order_total":-0.0}"#,
            r#"{"order_id":-0}"#,
            r#"{"order_total":1e5,"order_id":7}"#,
            r#"{"order_total":1.5E-3}"#,
            r#"{"order_total":123456789.123456789}"#,
            r#"{"order_total":0.1,"label":0.30000000000000004}"#,
            r#"{"order_total":9007199254740993.0}"#,
            r#"{"order_total":1e400}"#,
            r#"{"order_total":2.5e-310}"#,
            r#"{"order_id":123456789012345678901}"#,
            r#"{"order_id":9223372036854775807}"#,
            r#"{"order_id":-9223372036854775808}"#,
            r#"{"order_id":999999999999999999}"#,
            r#"{"order_id":1.0}"#,
            r#"{"order_id":01}"#,
            r#"{"order_id":1.}"#,
            r#"{"order_id":.5}"#,
            r#"{"order_id":+5}"#,
            r#"{"order_id":1e}"#,
            r#"{"order_id":-}"#,
            r#"{"small":2147483648}"#,
            r#"{"small":-2147483648,"flag":true}"#,
            r#"{"flag":false,"label":true}"#,
            r#"{"flag":"yes"}"#,
            r#"{"label":12,"customer_id":-3.25}"#,
            r#"{"customer_id":"caf\u00e9 \"q\""}"#,
            r#"{"customer_id":"café ✓"}"#,
            "{\"customer_id\":\"tab\there\"}",
            r#"{"customer_id":null,"order_id":null}"#,
            r#"{"customer_id":"a","customer_id":"b"}"#,
            r#"{"extra":[1,{"x":2}],"order_id":3}"#,
            r#"{"extra":{"nested":true},"label":{"a":1}}"#,
            r#"{"label":[1,2]}"#,
            r#"{"extra":"\n","order_id":4}"#,
            r#"{"order_id":1,}"#,
            r#"{"order_id":1} x"#,
            r#"{"order_id":1}}"#,
            r#"{"order_id" 1}"#,
            r#"{order_id:1}"#,
            r#"{"order_id":tru}"#,
            r#"{"order_id":nul}"#,
            r#"{}"#,
            r#"[]"#,
            r#""text""#,
            r#"12"#,
            r#"null"#,
            r#"{"order_id":1"#,
            "{\"customer_id\":\"\u{7f}\"}",
            r#"{"order_id":12345678,"order_total":12345678.12345678}"#,
            r#"{"order_id":1234567890123456,"order_total":0.000000001}"#,
            r#"{"order_id":12345678901234567,"order_total":1.25e2}"#,
            r#"{"order_total":123456781234567.5,"order_id":99999999}"#,
            r#"{"order_id":7}"#,
            r#"{"order_id":77777777}"#,
            r#"{"order_id":123456789"#,
            r#"{"ORDER_ID":5,"CUSTOMER_ID":"c","ORDER_TOTAL":1.5}"#,
            r#"{"order_id" :5,"customer_id":"c"}"#,
            r#"{"order_idx":5,"order_id":6}"#,
            r#"{"order_i":5}"#,
            r#"{"order_id":1 ,"customer_id":"a", "order_total":2}"#,
            r#"{"order_id":1,"customer_id"#,
            r#"{"order_id":1,""#,
            r#"{"order_id":1,"":2}"#,
            "{\"order_id\":1,\n\t\"order_total\":2\r\n}",
        ];
        for record in records {
            let bytes = record.as_bytes();
            let mut by_serde = vec![Value::Null; decoder.width()];
            let expected = decoder.decode_with_serde(bytes, &mut by_serde);
            let mut flat = vec![Value::Null; decoder.width()];
            if decoder.decode_flat(bytes, &mut flat).is_some() {
                assert!(
                    expected.is_ok(),
                    "{record}: the scanner took what serde_json refuses"
                );
                assert_eq!(flat, by_serde, "{record}");
                for (a, b) in flat.iter().zip(&by_serde) {
                    if let (Value::Double(a), Value::Double(b)) = (a, b) {
                        assert_eq!(a.to_bits(), b.to_bits(), "{record}");
                    }
                }
            }
            let mut row = vec![Value::String("stale".into()); decoder.width()];
            let got = decoder.decode_into(bytes, &mut row);
            assert_eq!(got, expected, "{record}");
            if got.is_ok() {
                assert_eq!(row, by_serde, "{record}");
            }
        }
        // The common shapes do take the fast path.
        let mut row = vec![Value::Null; decoder.width()];
        let common = br#"{"order_id":1,"customer_id":"c","order_total":2.25,"flag":true}"#;
        assert!(decoder.decode_flat(common, &mut row).is_some());
    }

    /// A column no query reads is type-checked as before but not kept.
    #[test]
    fn unread_columns_are_checked_not_kept() {
        let decoder = JsonDecoder::new(columns()).reading_only(&[false, true, false]);
        let mut row = vec![Value::Null; 3];
        decoder
            .decode_into(
                br#"{"order_id":1,"customer_id":"c1","order_total":2.5}"#,
                &mut row,
            )
            .unwrap();
        assert_eq!(
            row,
            vec![Value::Null, Value::String("c1".into()), Value::Null]
        );
        for (record, problem) in [
            (r#"{"order_id":"abc","customer_id":"c1"}"#, "ORDER_ID"),
            (
                r#"{"order_total":{"a":1},"customer_id":"c1"}"#,
                "ORDER_TOTAL",
            ),
            (r#"{"order_id":1.5}"#, "ORDER_ID"),
        ] {
            let error = decoder
                .decode_into(record.as_bytes(), &mut row)
                .unwrap_err();
            assert!(error.to_string().contains(problem), "{record}: {error}");
        }
    }

    /// Bad UTF-8 anywhere in a record gets the answer serde_json gives.
    #[test]
    fn bad_utf8_is_judged_as_serde_json_judges_it() {
        let decoder = JsonDecoder::new(columns());
        for record in [
            &b"{\"customer_id\":\"c\xff1\"}"[..],
            b"{\"other\":\"\xc3\x28\",\"order_id\":1}",
            b"{\"order_id\":1,\"customer_id\":\"caf\xc3\xa9\"}",
            b"{\"order_id\":1}\xff",
        ] {
            let mut by_serde = vec![Value::Null; decoder.width()];
            let expected = decoder.decode_with_serde(record, &mut by_serde);
            let mut row = vec![Value::Null; decoder.width()];
            let got = decoder.decode_into(record, &mut row);
            assert_eq!(got, expected, "{record:?}");
            if got.is_ok() {
                assert_eq!(row, by_serde, "{record:?}");
            }
        }
    }

    #[test]
    fn word_prefixes_match_as_starts_with_does() {
        let text = b"order_total\":12.5,\"x\":1";
        for end in 0..text.len() {
            for start in 0..end.min(4) {
                let prefix = &text[start..end];
                assert_eq!(starts_with(text, prefix), text.starts_with(prefix));
                let mut other = prefix.to_vec();
                if let Some(last) = other.last_mut() {
                    *last ^= 1;
                }
                assert_eq!(starts_with(text, &other), text.starts_with(&other));
                assert_eq!(
                    starts_with(&text[..end.saturating_sub(1)], prefix),
                    text[..end.saturating_sub(1)].starts_with(prefix)
                );
            }
        }
    }

    #[test]
    fn word_tricks_find_what_a_byte_loop_finds() {
        for text in [
            "12345678",
            "00000009",
            "99999999",
            "1234567a",
            "/2345678",
            ":2345678",
            "1234 678",
            "12\u{e9}4567",
            "\0\0\0\0\0\0\0\0",
            "9\u{7f}\u{ff}\u{3ff}ab",
        ] {
            let word = u64::from_le_bytes(text.as_bytes().try_into().unwrap());
            let run = text.bytes().take_while(u8::is_ascii_digit).count();
            assert_eq!(digit_run(word) as usize, run, "{text}");
            if run > 0 {
                assert_eq!(
                    digits_value(word << (64 - 8 * run)),
                    text[..run].parse::<u64>().unwrap(),
                    "{text}"
                );
            }
        }
        for text in [
            "abcdefgh",
            "abc\"efgh",
            "a\\b\"cdefg",
            "\u{1}bcdefgh",
            "abcdefg\u{1f}",
            "caf\u{e9}xyz",
            "\u{7f}bcdefg\"",
        ] {
            let bytes = text.as_bytes();
            let word = u64::from_le_bytes(bytes[..8].try_into().unwrap());
            let first = bytes[..8]
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            let flags = care_flags(word);
            assert_eq!(
                (flags != 0).then(|| (flags.trailing_zeros() / 8) as usize),
                first,
                "{text:?}"
            );
        }
    }

    #[test]
    fn fields_match_case_insensitively_and_widen() {
        let decoder = JsonDecoder::new(columns());
        let row = decoder
            .decode(br#"{"order_id": 7, "Customer_Id": "c1", "order_total": 12, "extra": [1, {"x": 2}]}"#)
            .unwrap();
        assert_eq!(
            row,
            vec![
                Value::Integer(7),
                Value::String("c1".into()),
                Value::Double(12.0)
            ]
        );
        let partial = decoder.decode(br#"{"order_id": 8}"#).unwrap();
        assert_eq!(partial[1], Value::Null);
    }

    #[test]
    fn bad_records_say_what_is_wrong() {
        let decoder = JsonDecoder::new(columns());
        let wrong = decoder
            .decode(br#"{"order_total": "lots"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            wrong.contains("field ORDER_TOTAL: expected DOUBLE, got the string \"lots\""),
            "{wrong}"
        );
        assert!(matches!(
            decoder.decode(b"{\"order_id\": "),
            Err(DecodeError::Malformed(..))
        ));
        assert_eq!(decoder.decode(b"[1, 2]"), Err(DecodeError::NotAnObject));
        assert_eq!(decoder.decode(b"  "), Err(DecodeError::Empty));
        let big = vec![b' '; MAX_RECORD_BYTES + 1];
        assert_eq!(
            decoder.decode(&big),
            Err(DecodeError::Oversize(MAX_RECORD_BYTES + 1))
        );
    }
}
