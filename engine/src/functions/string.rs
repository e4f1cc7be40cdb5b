//! String functions, as ksqlDB's `udf.string` classes compute them. Positions and lengths
//! count characters (Unicode scalar values); Java counts UTF-16 units, which differs only
//! for characters outside the Basic Multilingual Plane.

use std::cell::RefCell;
use std::collections::HashMap;

use regex::Regex;

use super::{
    int32, integer, math, text, text_or_null, type_error, Function, FunctionError, Outcome,
};
use crate::value::{Text, Value};

pub(super) fn call(function: Function, args: &[Value]) -> Outcome {
    use Function::*;
    let s = || text(function, args, 0);
    let string = |s: String| Ok(Value::String(s.into()));
    match function {
        Upper => string(s()?.to_uppercase()),
        Lower => string(s()?.to_lowercase()),
        // String.length().
        Len => Ok(Value::Integer(s()?.chars().count() as i64)),
        Trim => Ok(Value::String(s()?.trim_matches(java_space).into())),
        Ltrim => Ok(Value::String(s()?.trim_start_matches(java_space).into())),
        Rtrim => Ok(Value::String(s()?.trim_end_matches(java_space).into())),
        Replace => string(s()?.replace(text(function, args, 1)?, text(function, args, 2)?)),
        Concat => concat(args),
        ConcatWs => concat_ws(args),
        Substring => substring(args),
        Lpad | Rpad => pad(function, args),
        Initcap => string(initcap(s()?)),
        Instr => instr(args),
        Split => split(args),
        Mask | MaskKeepLeft | MaskKeepRight | MaskLeft | MaskRight => mask(function, args),
        Encode => encode(args),
        Chr => Ok(chr(&args[0])),
        Uuid => string(uuid()),
        Elt => elt(args),
        Field => field(args),
        RegexpExtract | RegexpExtractAll => regexp_extract(function, args),
        RegexpReplace => regexp_replace(args),
        RegexpSplitToArray => regexp_split(args),
        _ => unreachable!("string::call is only given string functions"),
    }
}

/// String.trim() removes every character up to U+0020, not Unicode white space.
fn java_space(c: char) -> bool {
    c <= ' '
}

fn strings(items: Vec<String>) -> Value {
    Value::Array(items.into_iter().map(|s| Value::String(s.into())).collect())
}

/// Concat.java: NULLs are skipped; fewer than two arguments is an error (so NULL).
fn concat(args: &[Value]) -> Outcome {
    if args.len() < 2 {
        return Err(FunctionError::Failed(
            "Concat should have at least two input arguments.".into(),
        ));
    }
    let mut out = String::new();
    for arg in args.iter().filter(|a| !a.is_null()) {
        // ksqlDB takes only strings; other types are written as the engine prints them.
        match arg {
            Value::String(s) => out.push_str(s),
            other => out.push_str(&other.to_string()),
        }
    }
    Ok(Value::String(out.into()))
}

/// ConcatWS.java: a NULL separator makes NULL; NULL values are skipped.
fn concat_ws(args: &[Value]) -> Outcome {
    let function = Function::ConcatWs;
    let Some(separator) = text_or_null(function, args, 0)? else {
        return Ok(Value::Null);
    };
    let mut parts = Vec::with_capacity(args.len() - 1);
    for i in 1..args.len() {
        if let Some(part) = text_or_null(function, args, i)? {
            parts.push(part);
        }
    }
    Ok(Value::String(parts.join(separator).into()))
}

/// Substring.java: positions from 1; a negative position counts from the end; both ends
/// clamp to the string.
fn substring(args: &[Value]) -> Outcome {
    let function = Function::Substring;
    let chars: Vec<char> = text(function, args, 0)?.chars().collect();
    let len = chars.len() as i64;
    let pos = i64::from(int32(function, args, 1)?);
    let start = if pos < 0 {
        (len + pos).max(0)
    } else {
        (pos - 1).min(len).max(0)
    };
    let end = match args.get(2) {
        Some(_) => {
            let length = i64::from(int32(function, args, 2)?);
            (start + length).min(len).max(start)
        }
        None => len,
    };
    Ok(Value::String(
        chars[start as usize..end as usize].iter().collect(),
    ))
}

/// LPad.java and RPad.java: the padding repeats up to the target length and a longer input
/// is cut; an empty padding or a negative length gives NULL.
fn pad(function: Function, args: &[Value]) -> Outcome {
    let input: Vec<char> = text(function, args, 0)?.chars().collect();
    let target = i64::from(int32(function, args, 1)?);
    let padding: Vec<char> = text(function, args, 2)?.chars().collect();
    if padding.is_empty() || target < 0 {
        return Ok(Value::Null);
    }
    let target = target as usize;
    let fill = target.saturating_sub(input.len());
    let filler = padding.iter().cycle().take(fill);
    let out: String = if function == Function::Lpad {
        filler.chain(input.iter()).take(target).collect()
    } else {
        input.iter().chain(filler).take(target).collect()
    };
    Ok(Value::String(out.into()))
}

/// InitCap.java: lower-case, then capitalise each match of `[^\s]+\s*` (so white space
/// before the first word is dropped).
fn initcap(s: &str) -> String {
    let lower = s.to_lowercase();
    let java_white = |c: char| matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r');
    let start = lower.find(|c: char| !java_white(c)).unwrap_or(lower.len());
    let mut out = String::with_capacity(lower.len());
    let mut at_word_start = true;
    for c in lower[start..].chars() {
        if java_white(c) {
            at_word_start = true;
            out.push(c);
        } else if at_word_start {
            out.extend(c.to_uppercase());
            at_word_start = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// commons-lang StringUtils.substring(str, start): a negative start counts from the end.
fn commons_substring(chars: &[char], start: i64) -> &[char] {
    let len = chars.len() as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    if start > len {
        &[]
    } else {
        &chars[start as usize..]
    }
}

/// commons-lang StringUtils.ordinalIndexOf: the index of the n-th (overlapping) occurrence,
/// -1 when there is none; an empty needle is found at 0.
fn ordinal_index_of(haystack: &[char], needle: &[char], ordinal: i64) -> i64 {
    if ordinal <= 0 {
        return -1;
    }
    if needle.is_empty() {
        return 0;
    }
    let mut found = 0;
    let mut from = 0usize;
    while from + needle.len() <= haystack.len() {
        if haystack[from..].starts_with(needle) {
            found += 1;
            if found == ordinal {
                return from as i64;
            }
        }
        from += 1;
    }
    -1
}

/// Instr.java as current ksqlDB has it: 0 when the substring is not found (whatever the
/// start position; the first version returned `position - 1`), and from the end the
/// position of the match's first character, counted for substrings of any length.
fn instr(args: &[Value]) -> Outcome {
    let function = Function::Instr;
    let (Some(s), Some(sub)) = (
        text_or_null(function, args, 0)?,
        text_or_null(function, args, 1)?,
    ) else {
        return Ok(Value::Integer(0));
    };
    // The position and occurrence are Java ints: NULL fails the call.
    let int_arg = |i: usize, default: i64| -> Result<i64, FunctionError> {
        match args.get(i) {
            None => Ok(default),
            Some(Value::Null) => Err(FunctionError::Failed(format!(
                "INSTR's argument {} is NULL",
                i + 1
            ))),
            Some(_) => Ok(i64::from(int32(function, args, i)?)),
        }
    };
    let position = int_arg(2, 1)?;
    let occurrence = int_arg(3, 1)?;
    let chars: Vec<char> = s.chars().collect();
    let needle: Vec<char> = sub.chars().collect();
    let len = chars.len() as i64;
    if position.abs() > len {
        return Ok(Value::Integer(0));
    }
    let found = if position < 0 {
        let reversed: Vec<char> = chars.iter().rev().copied().collect();
        let needle: Vec<char> = needle.iter().rev().copied().collect();
        let position = -position;
        let i = ordinal_index_of(
            commons_substring(&reversed, position - 1),
            &needle,
            occurrence,
        );
        if i == -1 {
            return Ok(Value::Integer(0));
        }
        len - position - i - needle.len() as i64 + 2
    } else {
        let i = ordinal_index_of(commons_substring(&chars, position - 1), &needle, occurrence);
        if i == -1 {
            return Ok(Value::Integer(0));
        }
        i + position
    };
    Ok(Value::Integer(found))
}

/// Split.java: the delimiter is literal text (Guava's Splitter keeps empty pieces); an
/// empty delimiter splits every character (Java's split on the empty pattern).
fn split(args: &[Value]) -> Outcome {
    let function = Function::Split;
    let s = text(function, args, 0)?;
    let delimiter = text(function, args, 1)?;
    Ok(strings(if delimiter.is_empty() {
        split_characters(s)
    } else {
        s.split(delimiter).map(str::to_string).collect()
    }))
}

/// Java's `split("")`: one piece per character, and `[""]` for the empty string.
fn split_characters(s: &str) -> Vec<String> {
    if s.is_empty() {
        return vec![String::new()];
    }
    s.chars().map(String::from).collect()
}

/// The masking characters of Masker.java: X, x, n and - by default; an explicit NULL leaves
/// that class of character as it is.
struct Masker {
    upper: Option<char>,
    lower: Option<char>,
    digit: Option<char>,
    other: Option<char>,
}

impl Masker {
    /// By Java's Character.getType: upper-case letters, lower-case letters, decimal digits,
    /// and everything else.
    fn mask(&self, c: char) -> char {
        let replacement = if c.is_uppercase() {
            self.upper
        } else if c.is_lowercase() {
            self.lower
        } else if c.is_ascii_digit() || is_decimal_digit(c) {
            self.digit
        } else {
            self.other
        };
        replacement.unwrap_or(c)
    }
}

/// Character.DECIMAL_DIGIT_NUMBER beyond ASCII: the common decimal digit blocks.
fn is_decimal_digit(c: char) -> bool {
    matches!(c,
        '\u{0660}'..='\u{0669}' | '\u{06F0}'..='\u{06F9}' | '\u{0966}'..='\u{096F}'
        | '\u{FF10}'..='\u{FF19}')
}

fn mask(function: Function, args: &[Value]) -> Outcome {
    use Function::*;
    let (count, chars_from) = match function {
        Mask => (None, 1),
        _ => {
            // numChars is a Java int: NULL fails the call.
            if args[1].is_null() {
                return Err(FunctionError::Failed(format!(
                    "{} needs a number of characters",
                    super::name_of(function)
                )));
            }
            let n = integer(function, args, 1)?;
            if n < 0 {
                return Err(FunctionError::Failed(format!(
                    "function {} requires a non-negative number of characters to mask or skip",
                    super::name_of(function).to_ascii_lowercase()
                )));
            }
            (Some(usize::try_from(n).unwrap_or(usize::MAX)), 2)
        }
    };
    let masker = if args.len() > chars_from {
        let mut masks = [None; 4];
        for (slot, i) in masks.iter_mut().zip(chars_from..) {
            *slot = match text_or_null(function, args, i)? {
                None => None,
                Some(m) => {
                    let mut chars = m.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => Some(c),
                        _ => {
                            return Err(FunctionError::Failed(format!(
                            "Invalid mask character. Must be only single character, but was '{m}'"
                        )))
                        }
                    }
                }
            };
        }
        Masker {
            upper: masks[0],
            lower: masks[1],
            digit: masks[2],
            other: masks[3],
        }
    } else {
        Masker {
            upper: Some('X'),
            lower: Some('x'),
            digit: Some('n'),
            other: Some('-'),
        }
    };
    let Some(input) = text_or_null(function, args, 0)? else {
        return Ok(Value::Null);
    };
    let chars: Vec<char> = input.chars().collect();
    let n = count.unwrap_or(0).min(chars.len());
    // Which characters are masked: all, the first n, the last n, all but the first n, or all
    // but the last n.
    let masked = |i: usize| match function {
        MaskLeft => i < n,
        MaskRight => i >= chars.len() - n,
        MaskKeepLeft => i >= n,
        MaskKeepRight => i < chars.len() - n,
        _ => true,
    };
    let out: String = chars
        .iter()
        .enumerate()
        .map(|(i, &c)| if masked(i) { masker.mask(c) } else { c })
        .collect();
    Ok(Value::String(out.into()))
}

/// Encode.java: text in one of hex, utf8, ascii and base64, re-encoded in another (the
/// same encoding twice is not among its encoders). Decoding to ASCII turns bytes above 127
/// into U+FFFD; encoding from ASCII turns characters above 127 into '?'.
fn encode(args: &[Value]) -> Outcome {
    let function = Function::Encode;
    let input = text(function, args, 0)?;
    let from = text(function, args, 1)?.to_ascii_lowercase();
    let to = text(function, args, 2)?.to_ascii_lowercase();
    let known = ["hex", "utf8", "ascii", "base64"];
    if from == to || !known.contains(&from.as_str()) || !known.contains(&to.as_str()) {
        return Err(FunctionError::Failed(
            "Supported input and output encodings are: hex, utf8, ascii and base64".into(),
        ));
    }
    let bytes: Vec<u8> = match from.as_str() {
        "hex" => hex_decode(hex_strip(input))?,
        "base64" => base64_decode(input),
        "ascii" => input
            .chars()
            .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
            .collect(),
        _ => input.as_bytes().to_vec(),
    };
    let out = match to.as_str() {
        "hex" => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        "base64" => base64_encode(&bytes),
        "ascii" => bytes
            .iter()
            .map(|&b| {
                if b.is_ascii() {
                    char::from(b)
                } else {
                    '\u{fffd}'
                }
            })
            .collect(),
        _ => String::from_utf8_lossy(&bytes).into_owned(),
    };
    Ok(Value::String(out.into()))
}

/// Encode.hexStrip: a leading "0x" (with a 0 put back for an odd count of digits) or an
/// enclosing X'...' goes.
fn hex_strip(input: &str) -> String {
    if let Some(digits) = input.strip_prefix("0x") {
        if !input.len().is_multiple_of(2) {
            return format!("0{digits}");
        }
        return digits.to_string();
    }
    let quoted = (input.starts_with("X'") || input.starts_with("x'"))
        && input.len() >= 3
        && input.ends_with('\'');
    if quoted {
        return input[2..input.len() - 1].to_string();
    }
    input.to_string()
}

/// commons-codec Hex.decodeHex: an even count of hex digits.
fn hex_decode(digits: String) -> Result<Vec<u8>, FunctionError> {
    if !digits.len().is_multiple_of(2) {
        return Err(FunctionError::Failed("Odd number of characters.".into()));
    }
    digits
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| {
                    FunctionError::Failed(format!("Illegal hexadecimal character in {digits}"))
                })
        })
        .collect()
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(BASE64[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// commons-codec Base64.decodeBase64 is lenient: characters outside the alphabet (the
/// URL-safe - and _ included) are skipped, and decoding stops at padding.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut bits, mut count) = (0u32, 0);
    for c in text.bytes() {
        if c == b'=' {
            break;
        }
        let Some(v) = value(c) else { continue };
        bits = bits << 6 | u32::from(v);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

/// Chr.java: a code point, or a string of Java `\uXXXX` escapes (surrogate pairs combine);
/// NULL for anything else.
fn chr(arg: &Value) -> Value {
    match arg {
        Value::Integer(code) => u32::try_from(*code)
            .ok()
            .and_then(char::from_u32)
            .map(|c| Value::String(Text::from(c.to_string())))
            .unwrap_or(Value::Null),
        Value::String(code) if code.len() >= 6 && code.starts_with("\\u") => {
            unescape_java(code).map_or(Value::Null, |s| Value::String(s.into()))
        }
        _ => Value::Null,
    }
}

/// StringEscapeUtils.unescapeJava for the escapes CHR is given: `\uXXXX` (UTF-16 units,
/// pairs joined), `\t`, `\n` and the like.
fn unescape_java(s: &str) -> Option<String> {
    let mut units: Vec<u16> = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u16; 2];
            units.extend_from_slice(c.encode_utf16(&mut buf));
            continue;
        }
        match chars.next()? {
            'u' => {
                while chars.peek() == Some(&'u') {
                    chars.next();
                }
                let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                if hex.len() != 4 {
                    return None;
                }
                units.push(u16::from_str_radix(&hex, 16).ok()?);
            }
            't' => units.push(u16::from(b'\t')),
            'n' => units.push(u16::from(b'\n')),
            'r' => units.push(u16::from(b'\r')),
            'b' => units.push(8),
            'f' => units.push(12),
            other => {
                let mut buf = [0u16; 2];
                units.extend_from_slice(other.encode_utf16(&mut buf));
            }
        }
    }
    // A lone surrogate has no UTF-8 form; Java would keep it, the engine gives up.
    String::from_utf16(&units).ok()
}

/// A random (version 4) UUID, as java.util.UUID.randomUUID().toString() writes one.
fn uuid() -> String {
    let (high, low) = (math::random_bits(), math::random_bits());
    let high = (high & !0xF000) | 0x4000;
    let low = (low & !(0b11 << 62)) | (0b10 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xFFFF,
        high & 0xFFFF,
        low >> 48,
        low & 0xFFFF_FFFF_FFFF
    )
}

/// Elt.java: the n-th of the following arguments (from 1), NULL out of range.
fn elt(args: &[Value]) -> Outcome {
    let function = Function::Elt;
    if args[0].is_null() {
        return Ok(Value::Null);
    }
    let n = integer(function, args, 0)?;
    let rest = &args[1..];
    for value in rest.iter().filter(|v| !v.is_null()) {
        if !matches!(value, Value::String(_)) {
            return Err(type_error(function, "strings", value));
        }
    }
    Ok(usize::try_from(n)
        .ok()
        .filter(|&n| n >= 1 && n <= rest.len())
        .map(|n| rest[n - 1].clone())
        .unwrap_or(Value::Null))
}

/// Field.java: the position (from 1) of the first argument among the others; 0 when it is
/// absent or NULL.
fn field(args: &[Value]) -> Outcome {
    if args[0].is_null() {
        return Ok(Value::Integer(0));
    }
    Ok(Value::Integer(
        args[1..]
            .iter()
            .position(|v| super::equal(&args[0], v))
            .map_or(0, |i| i as i64 + 1),
    ))
}

thread_local! {
    /// Compiled patterns by their text: a pattern is usually a literal, so each row would
    /// otherwise compile the same regex again.
    static PATTERNS: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
}

/// Java's `java.util.regex` and the regex crate agree on the common syntax; back-references
/// and look-around are refused here.
fn pattern(text: &str) -> Result<Regex, FunctionError> {
    PATTERNS.with(|cache| {
        if let Some(regex) = cache.borrow().get(text) {
            return Ok(regex.clone());
        }
        let regex = Regex::new(text).map_err(|e| {
            FunctionError::Failed(format!("Invalid regular expression pattern: {text}: {e}"))
        })?;
        let mut cache = cache.borrow_mut();
        if cache.len() >= 256 {
            cache.clear();
        }
        cache.insert(text.to_string(), regex.clone());
        Ok(regex)
    })
}

/// RegexpExtract.java and RegexpExtractAll.java: (pattern, input[, group]); NULL when the
/// group does not exist or nothing matches.
fn regexp_extract(function: Function, args: &[Value]) -> Outcome {
    let regex = pattern(text(function, args, 0)?)?;
    let input = text(function, args, 1)?;
    let group = match args.get(2) {
        Some(_) => integer(function, args, 2)?,
        None => 0,
    };
    let Some(group) = usize::try_from(group)
        .ok()
        .filter(|&g| g < regex.captures_len())
    else {
        return Ok(Value::Null);
    };
    let pick = |captures: regex::Captures<'_>| {
        captures
            .get(group)
            .map_or(Value::Null, |m| Value::String(m.as_str().into()))
    };
    Ok(if function == Function::RegexpExtract {
        regex.captures(input).map_or(Value::Null, pick)
    } else {
        Value::Array(regex.captures_iter(input).map(pick).collect())
    })
}

/// RegexpReplace.java: String.replaceAll, whose replacement text reads `$n` as a group
/// and `\x` as a literal x.
fn regexp_replace(args: &[Value]) -> Outcome {
    let function = Function::RegexpReplace;
    let input = text(function, args, 0)?;
    let regex = pattern(text(function, args, 1)?)?;
    let replacement = java_replacement(text(function, args, 2)?)?;
    Ok(Value::String(
        regex
            .replace_all(input, replacement.as_str())
            .as_ref()
            .into(),
    ))
}

/// A java.util.regex replacement string in the regex crate's syntax.
fn java_replacement(java: &str) -> Result<String, FunctionError> {
    let mut out = String::with_capacity(java.len());
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => {
                    return Err(FunctionError::Failed(
                        "character to be escaped is missing".into(),
                    ))
                }
            },
            '$' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    return Err(FunctionError::Failed("Illegal group reference".into()));
                }
                out.push_str(&format!("${{{digits}}}"));
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// RegexpSplitToArray.java: Guava's Splitter on the pattern (empty pieces kept), or Java's
/// Pattern.split when the pattern matches the empty string.
fn regexp_split(args: &[Value]) -> Outcome {
    let function = Function::RegexpSplitToArray;
    let input = text(function, args, 0)?;
    let source = text(function, args, 1)?;
    let regex = pattern(source)?;
    if source.is_empty() || regex.is_match("") {
        return Ok(strings(java_split(&regex, input)));
    }
    Ok(strings(regex.split(input).map(str::to_string).collect()))
}

/// Pattern.split(input) with limit 0: no empty piece from a zero-width match at the start,
/// trailing empty pieces dropped, and the input itself when nothing matches.
fn java_split(regex: &Regex, input: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut index = 0;
    let mut matched = false;
    for m in regex.find_iter(input) {
        if index == 0 && m.start() == 0 && m.end() == 0 {
            continue;
        }
        matched = true;
        pieces.push(input[index..m.start()].to_string());
        index = m.end();
    }
    if !matched {
        return vec![input.to_string()];
    }
    pieces.push(input[index..].to_string());
    while pieces.len() > 1 && pieces.last().is_some_and(String::is_empty) {
        pieces.pop();
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::super::call;
    use super::*;

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    fn i(v: i64) -> Value {
        Value::Integer(v)
    }

    fn run(function: Function, args: &[Value]) -> Value {
        call(function, args).unwrap()
    }

    fn array(items: &[&str]) -> Value {
        Value::Array(items.iter().map(|x| s(x)).collect())
    }

    #[test]
    fn substring_positions_count_from_one_and_from_the_end() {
        // SubstringTest.java.
        let text = s("a test string");
        let sub = |args: &[Value]| {
            let mut all = vec![text.clone()];
            all.extend_from_slice(args);
            run(Function::Substring, &all)
        };
        assert_eq!(sub(&[i(1), i(1)]), s("a"));
        assert_eq!(sub(&[i(-1), i(1)]), s("g"));
        assert_eq!(sub(&[i(3)]), s("test string"));
        assert_eq!(sub(&[i(3), i(4)]), s("test"));
        assert_eq!(sub(&[i(-6)]), s("string"));
        assert_eq!(sub(&[i(-6), i(2)]), s("st"));
        assert_eq!(sub(&[i(0)]), s("a test string"));
        assert_eq!(sub(&[i(100)]), s(""));
        assert_eq!(sub(&[i(-100)]), s("a test string"));
        assert_eq!(sub(&[i(3), i(100)]), s("test string"));
        assert_eq!(sub(&[i(3), i(-100)]), s(""));
        assert_eq!(
            run(Function::Substring, &[s("stream"), i(1), i(4)]),
            s("stre")
        );
    }

    #[test]
    fn instr_searches_forwards_and_backwards() {
        // InstrTest.java and the reference's examples.
        let corp = || s("CORPORATE FLOOR");
        let instr = |args: &[Value]| {
            let mut all = vec![corp()];
            all.extend_from_slice(args);
            run(Function::Instr, &all)
        };
        assert_eq!(instr(&[s("OR")]), i(2));
        assert_eq!(instr(&[s("OR"), i(3)]), i(5));
        assert_eq!(instr(&[s("OR"), i(3), i(2)]), i(14));
        assert_eq!(instr(&[s("OR"), i(-1)]), i(14));
        assert_eq!(instr(&[s("OR"), i(-3)]), i(5));
        assert_eq!(instr(&[s("OR"), i(-3), i(2)]), i(2));
        assert_eq!(instr(&[s("ABC")]), i(0));
        assert_eq!(instr(&[s("MISSING")]), i(0));
        assert_eq!(instr(&[s("OR"), i(100)]), i(0));
        assert_eq!(instr(&[s("OR"), i(-100)]), i(0));
        // Not found after the start position: 0 (instr.json), not `position - 1`.
        assert_eq!(run(Function::Instr, &[s("short"), s("or"), i(4)]), i(0));
        assert_eq!(run(Function::Instr, &[s("short"), s("or"), i(-4)]), i(0));
        // From the end, the match's first character for a substring of any length.
        assert_eq!(instr(&[s("ORA"), i(-1)]), i(5));
        assert_eq!(run(Function::Instr, &[Value::Null, s("OR")]), i(0));
        assert_eq!(run(Function::Instr, &[corp(), Value::Null, i(1)]), i(0));
    }

    #[test]
    fn pads_cut_and_repeat() {
        // The reference's LPAD and RPAD examples.
        assert_eq!(
            run(Function::Lpad, &[s("Foo"), i(7), s("Bar")]),
            s("BarBFoo")
        );
        assert_eq!(run(Function::Lpad, &[s("Foo"), i(2), s("Bar")]), s("Fo"));
        assert_eq!(run(Function::Lpad, &[s(""), i(2), s("Bar")]), s("Ba"));
        assert_eq!(run(Function::Lpad, &[s("123"), i(5), s("0")]), s("00123"));
        assert_eq!(
            run(Function::Rpad, &[s("Foo"), i(7), s("Bar")]),
            s("FooBarB")
        );
        assert_eq!(run(Function::Rpad, &[s("Foo"), i(2), s("Bar")]), s("Fo"));
        assert_eq!(run(Function::Rpad, &[s(""), i(2), s("Bar")]), s("Ba"));
        assert_eq!(run(Function::Rpad, &[s("Foo"), i(7), s("")]), Value::Null);
        assert_eq!(run(Function::Lpad, &[s("Foo"), i(-1), s("x")]), Value::Null);
    }

    #[test]
    fn masks_use_x_x_n_and_dash_by_default() {
        // The reference's MASK examples.
        let text = || s("My Test $123");
        assert_eq!(run(Function::Mask, &[text()]), s("Xx-Xxxx--nnn"));
        assert_eq!(
            run(
                Function::Mask,
                &[text(), s("*"), Value::Null, s("1"), Value::Null]
            ),
            s("*y *est $111")
        );
        assert_eq!(
            run(Function::MaskKeepLeft, &[text(), i(4)]),
            s("My Txxx--nnn")
        );
        assert_eq!(
            run(Function::MaskKeepRight, &[text(), i(4)]),
            s("Xx-Xxxx-$123")
        );
        assert_eq!(run(Function::MaskLeft, &[text(), i(4)]), s("Xx-Xest $123"));
        assert_eq!(run(Function::MaskRight, &[text(), i(4)]), s("My Test -nnn"));
        assert_eq!(run(Function::MaskLeft, &[text(), i(40)]), s("Xx-Xxxx--nnn"));
        assert!(call(Function::MaskLeft, &[text(), i(-1)]).is_err());
        assert!(call(Function::Mask, &[text(), s("**"), s("x"), s("n"), s("-")]).is_err());
        assert_eq!(run(Function::Mask, &[Value::Null]), Value::Null);
    }

    #[test]
    fn concat_skips_nulls_and_concat_ws_puts_separators_between() {
        // The reference: CONCAT_WS(', ', 'apple', 'banana', NULL, 'date').
        assert_eq!(
            run(
                Function::ConcatWs,
                &[s(", "), s("apple"), s("banana"), Value::Null, s("date")]
            ),
            s("apple, banana, date")
        );
        assert_eq!(
            run(Function::ConcatWs, &[Value::Null, s("a"), s("b")]),
            Value::Null
        );
        // Concat.java: NULLs are left out; all NULL is the empty string.
        assert_eq!(
            run(Function::Concat, &[s("a"), Value::Null, s("b")]),
            s("ab")
        );
        assert_eq!(run(Function::Concat, &[Value::Null, Value::Null]), s(""));
        assert!(call(Function::Concat, &[s("a")]).is_err());
    }

    #[test]
    fn split_keeps_empty_pieces_and_splits_characters_on_empty() {
        // The reference's SPLIT rules.
        assert_eq!(
            run(Function::Split, &[s(",a,,b,"), s(",")]),
            array(&["", "a", "", "b", ""])
        );
        assert_eq!(
            run(Function::Split, &[s("abc"), s("")]),
            array(&["a", "b", "c"])
        );
        assert_eq!(run(Function::Split, &[s("abc"), s("x")]), array(&["abc"]));
        assert_eq!(
            run(Function::Split, &[s("a.b"), s(".")]),
            array(&["a", "b"])
        );
        assert_eq!(run(Function::Split, &[s(""), s("")]), array(&[""]));
    }

    #[test]
    fn initcap_trim_and_cases() {
        assert_eq!(
            run(Function::Initcap, &[s("the fox JUMPS")]),
            s("The Fox Jumps")
        );
        assert_eq!(
            run(Function::Initcap, &[s("  two  spaces ")]),
            s("Two  Spaces ")
        );
        // string.json "LCASE, UCASE, TRIM SUBSTRING".
        assert_eq!(
            run(Function::Trim, &[s(" \t with white space \t")]),
            s("with white space")
        );
        assert_eq!(run(Function::Upper, &[s("MiXeD")]), s("MIXED"));
        assert_eq!(run(Function::Substring, &[s("s"), i(2), i(5)]), s(""));
        assert_eq!(run(Function::Len, &[s("好好")]), i(2));
    }

    #[test]
    fn chr_takes_code_points_and_escapes() {
        // chr.json.
        assert_eq!(run(Function::Chr, &[i(75)]), s("K"));
        assert_eq!(run(Function::Chr, &[i(22909)]), s("好"));
        assert_eq!(run(Function::Chr, &[i(99000)]), s("\u{182b8}"));
        assert_eq!(run(Function::Chr, &[i(-1)]), Value::Null);
        assert_eq!(run(Function::Chr, &[s("\\u004b")]), s("K"));
        assert_eq!(run(Function::Chr, &[s("\\ud820\\udeb8")]), s("\u{182b8}"));
        for bad in ["75", "004b", "bogus", ""] {
            assert_eq!(run(Function::Chr, &[s(bad)]), Value::Null, "{bad}");
        }
    }

    #[test]
    fn uuids_are_version_4() {
        let Value::String(id) = run(Function::Uuid, &[]) else {
            panic!()
        };
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(run(Function::Uuid, &[]), run(Function::Uuid, &[]));
    }

    #[test]
    fn elt_and_field() {
        // The reference: ELT is 1-indexed, FIELD gives 0 when absent or NULL.
        assert_eq!(run(Function::Elt, &[i(2), s("a"), s("b")]), s("b"));
        assert_eq!(run(Function::Elt, &[i(3), s("a"), s("b")]), Value::Null);
        assert_eq!(run(Function::Elt, &[i(0), s("a")]), Value::Null);
        assert_eq!(run(Function::Field, &[s("b"), s("a"), s("b")]), i(2));
        assert_eq!(run(Function::Field, &[s("c"), s("a"), s("b")]), i(0));
        assert_eq!(run(Function::Field, &[Value::Null, Value::Null]), i(0));
    }

    #[test]
    fn encode_converts_between_hex_utf8_ascii_and_base64() {
        // encode.json: "encode hex", "encode ascii", "encode base64", "encode null".
        let enc = |v: &str, from: &str, to: &str| call(Function::Encode, &[s(v), s(from), s(to)]);
        for hex in [
            "4578616d706C6521",
            "0x4578616d706C6521",
            "X'4578616d706C6521'",
            "x'4578616d706C6521'",
        ] {
            assert_eq!(enc(hex, "hex", "ascii"), Ok(s("Example!")), "{hex}");
            assert_eq!(enc(hex, "hex", "utf8"), Ok(s("Example!")), "{hex}");
            assert_eq!(enc(hex, "hex", "base64"), Ok(s("RXhhbXBsZSE=")), "{hex}");
        }
        assert_eq!(
            enc("ce95cebbcebbceacceb4ceb1", "hex", "utf8"),
            Ok(s("Ελλάδα"))
        );
        assert_eq!(
            enc("ce95cebbcebbceacceb4ceb1", "hex", "base64"),
            Ok(s("zpXOu867zqzOtM6x"))
        );
        assert_eq!(
            enc("c39c6265726d656e736368", "hex", "ascii"),
            Ok(s("\u{fffd}\u{fffd}bermensch"))
        );
        for empty in ["0x", "X''", "x''"] {
            assert_eq!(enc(empty, "hex", "utf8"), Ok(s("")), "{empty}");
        }
        for bad in [
            "0x0x",
            "X'",
            "x'4578616d706C6521",
            "x'578616d706C6521'",
            "578616d706C6521",
        ] {
            assert!(enc(bad, "hex", "utf8").is_err(), "{bad}");
        }
        assert_eq!(
            enc("0x578616d706C6521", "hex", "utf8"),
            Ok(s("\u{5}xample!"))
        );
        assert_eq!(enc("Example!", "ascii", "hex"), Ok(s("4578616d706c6521")));
        assert_eq!(enc("Ελλάδα", "ascii", "hex"), Ok(s("3f3f3f3f3f3f")));
        assert_eq!(enc("Ελλάδα", "ascii", "base64"), Ok(s("Pz8/Pz8/")));
        assert_eq!(
            enc("RXhhbXBsZSE=", "base64", "hex"),
            Ok(s("4578616d706c6521"))
        );
        assert_eq!(enc("zpXOu867zqzOtM6x", "base64", "utf8"), Ok(s("Ελλάδα")));
        assert!(enc("RXhhbXBsZSE=", "base64", "null").is_err());
        assert!(enc("abc", "utf8", "utf8").is_err());
        assert_eq!(
            call(Function::Encode, &[Value::Null, s("hex"), s("utf8")]),
            Ok(Value::Null)
        );
    }

    #[test]
    fn regular_expressions() {
        // The reference's examples: REGEXP_EXTRACT('(.*) (.*)', 'hello there', 2) and
        // REGEXP_EXTRACT_ALL('(\\w+) (\\w+)', 'hello there nice day', 2).
        assert_eq!(
            run(
                Function::RegexpExtract,
                &[s("(.*) (.*)"), s("hello there"), i(2)]
            ),
            s("there")
        );
        assert_eq!(
            run(
                Function::RegexpExtractAll,
                &[s("(\\w+) (\\w+)"), s("hello there nice day"), i(2)]
            ),
            array(&["there", "day"])
        );
        assert_eq!(
            run(Function::RegexpExtract, &[s("(a)"), s("bcd")]),
            Value::Null
        );
        assert_eq!(
            run(Function::RegexpExtract, &[s("(a)"), s("a"), i(2)]),
            Value::Null
        );
        assert_eq!(
            run(
                Function::RegexpReplace,
                &[s("foobar"), s("o+(b)"), s("0$1\\$")]
            ),
            s("f0b$ar")
        );
        assert_eq!(
            run(Function::RegexpSplitToArray, &[s("a1b22c"), s("[0-9]")]),
            array(&["a", "b", "", "c"])
        );
        assert_eq!(
            run(Function::RegexpSplitToArray, &[s("abc"), s("")]),
            array(&["a", "b", "c"])
        );
        assert!(call(Function::RegexpReplace, &[s("a"), s("("), s("b")]).is_err());
    }
}
