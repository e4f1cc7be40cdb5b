//! ksqlDB's date functions over epoch milliseconds and epoch days, with Java
//! `DateTimeFormatter` patterns ('yyyy-MM-dd HH:mm:ss.SSS', quoted 'T' literals, zones).

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::Timestamp;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Year(usize),
    Month(usize),
    MonthName {
        long: bool,
    },
    Day(usize),
    DayName {
        long: bool,
    },
    Hour24(usize),
    Hour12(usize),
    Minute(usize),
    Second(usize),
    Fraction(usize),
    AmPm,
    /// Z: +0000; X/XXX: Z for UTC, else +hh / +hh:mm.
    Offset {
        colon: bool,
        z_for_utc: bool,
    },
    /// z, zz, zzz: the zone's short name (PDT, BST, UTC), as Java's DateTimeFormatter writes
    /// it; read back as a zone name or one of Java's ZoneId.SHORT_IDS.
    ZoneName,
    Literal(String),
}

/// Java's ZoneId.SHORT_IDS: the three-letter names Java reads as zones, with what each
/// stands for (the fixed offsets EST, MST and HST included).
const SHORT_ZONE_IDS: [(&str, &str); 28] = [
    ("ACT", "Australia/Darwin"),
    ("AET", "Australia/Sydney"),
    ("AGT", "America/Argentina/Buenos_Aires"),
    ("ART", "Africa/Cairo"),
    ("AST", "America/Anchorage"),
    ("BET", "America/Sao_Paulo"),
    ("BST", "Asia/Dhaka"),
    ("CAT", "Africa/Harare"),
    ("CNT", "America/St_Johns"),
    ("CST", "America/Chicago"),
    ("CTT", "Asia/Shanghai"),
    ("EAT", "Africa/Addis_Ababa"),
    ("ECT", "Europe/Paris"),
    ("IET", "America/Indiana/Indianapolis"),
    ("IST", "Asia/Kolkata"),
    ("JST", "Asia/Tokyo"),
    ("MIT", "Pacific/Apia"),
    ("NET", "Asia/Yerevan"),
    ("NST", "Pacific/Auckland"),
    ("PLT", "Asia/Karachi"),
    ("PNT", "America/Phoenix"),
    ("PRT", "America/Puerto_Rico"),
    ("PST", "America/Los_Angeles"),
    ("SST", "Pacific/Guadalcanal"),
    ("VST", "Asia/Ho_Chi_Minh"),
    ("EST", "-05:00"),
    ("MST", "-07:00"),
    ("HST", "-10:00"),
];

/// The zone a zone name in parsed text stands for: UTC and GMT, Java's short IDs, else an
/// IANA name.
fn named_zone(name: &str) -> Result<TimeZone, String> {
    if ["UTC", "GMT", "UT", "Z"]
        .iter()
        .any(|z| z.eq_ignore_ascii_case(name))
    {
        return Ok(TimeZone::UTC);
    }
    match SHORT_ZONE_IDS
        .iter()
        .find(|(short, _)| short.eq_ignore_ascii_case(name))
    {
        Some((_, fixed)) if fixed.starts_with('-') => {
            let hours: i8 = fixed[1..3].parse().map_err(|_| format!("zone {name}"))?;
            Ok(TimeZone::fixed(jiff::tz::Offset::constant(-hours)))
        }
        Some((_, region)) => zone(Some(region)),
        None => zone(Some(name)),
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn compile(pattern: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let mut literal = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("pattern '{pattern}' has an unclosed quote")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        literal.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&other) => {
                        literal.push(other);
                        i += 1;
                    }
                }
            }
            // '' outside a literal is one quote.
            tokens.push(Token::Literal(if literal.is_empty() {
                "'".into()
            } else {
                literal
            }));
            continue;
        }
        if !c.is_ascii_alphabetic() {
            tokens.push(Token::Literal(c.to_string()));
            i += 1;
            continue;
        }
        let mut width = 1;
        while chars.get(i + width) == Some(&c) {
            width += 1;
        }
        i += width;
        tokens.push(match c {
            'y' | 'u' => Token::Year(width),
            'M' | 'L' if width >= 4 => Token::MonthName { long: true },
            'M' | 'L' if width == 3 => Token::MonthName { long: false },
            'M' | 'L' => Token::Month(width),
            'd' => Token::Day(width),
            'E' => Token::DayName { long: width >= 4 },
            'H' => Token::Hour24(width),
            'h' => Token::Hour12(width),
            'm' => Token::Minute(width),
            's' => Token::Second(width),
            'S' => Token::Fraction(width),
            'a' => Token::AmPm,
            'Z' => Token::Offset {
                colon: false,
                z_for_utc: false,
            },
            'X' => Token::Offset {
                colon: width >= 3,
                z_for_utc: true,
            },
            'x' => Token::Offset {
                colon: width >= 3,
                z_for_utc: false,
            },
            'z' if width <= 3 => Token::ZoneName,
            other => {
                return Err(format!(
                    "pattern letter '{other}' in '{pattern}' is not supported by advisor-engine"
                ))
            }
        });
    }
    Ok(tokens)
}

fn zone(name: Option<&str>) -> Result<TimeZone, String> {
    match name.map(str::trim) {
        None | Some("") | Some("UTC") | Some("Z") | Some("GMT") => Ok(TimeZone::UTC),
        Some(name) if name.starts_with(['+', '-']) => {
            // Offsets as +02:00, +0200 or -05.
            let digits: String = name.chars().filter(char::is_ascii_digit).collect();
            let sign = if name.starts_with('-') { -1 } else { 1 };
            let (hours, minutes): (Option<i32>, Option<i32>) = match digits.len() {
                2 => (digits.parse().ok(), Some(0)),
                4 => (digits[..2].parse().ok(), digits[2..].parse().ok()),
                _ => (None, None),
            };
            let (Some(hours), Some(minutes)) = (hours, minutes) else {
                return Err(format!("unknown time zone '{name}'"));
            };
            jiff::tz::Offset::from_seconds(sign * (hours * 3600 + minutes * 60))
                .map(TimeZone::fixed)
                .map_err(|_| format!("unknown time zone '{name}'"))
        }
        Some(name) => TimeZone::get(name).map_err(|_| format!("unknown time zone '{name}'")),
    }
}

fn pad(out: &mut String, value: i64, width: usize) {
    out.push_str(&format!("{value:0width$}"));
}

fn write(tokens: &[Token], at: &jiff::ZonedDateTime) -> String {
    let mut out = String::new();
    for token in tokens {
        match token {
            Token::Year(2) => pad(&mut out, i64::from(at.year()).rem_euclid(100), 2),
            Token::Year(width) => pad(&mut out, i64::from(at.year()), *width),
            Token::Month(width) => pad(&mut out, i64::from(at.month()), *width),
            Token::MonthName { long } => {
                let name = MONTHS[usize::try_from(at.month() - 1).unwrap_or(0)];
                out.push_str(if *long { name } else { &name[..3] });
            }
            Token::Day(width) => pad(&mut out, i64::from(at.day()), *width),
            Token::DayName { long } => {
                let name = DAYS[usize::from(at.weekday().to_monday_zero_offset() as u8)];
                out.push_str(if *long { name } else { &name[..3] });
            }
            Token::Hour24(width) => pad(&mut out, i64::from(at.hour()), *width),
            Token::Hour12(width) => {
                let hour = i64::from(at.hour()) % 12;
                pad(&mut out, if hour == 0 { 12 } else { hour }, *width);
            }
            Token::Minute(width) => pad(&mut out, i64::from(at.minute()), *width),
            Token::Second(width) => pad(&mut out, i64::from(at.second()), *width),
            Token::Fraction(width) => {
                let nanos = format!("{:09}", at.subsec_nanosecond());
                let digits = (*width).min(9);
                out.push_str(&nanos[..digits]);
                out.push_str(&"0".repeat(width - digits));
            }
            Token::AmPm => out.push_str(if at.hour() < 12 { "AM" } else { "PM" }),
            Token::Offset { colon, z_for_utc } => {
                let seconds = at.offset().seconds();
                if seconds == 0 && *z_for_utc {
                    out.push('Z');
                } else {
                    out.push(if seconds < 0 { '-' } else { '+' });
                    let minutes = i64::from(seconds.abs()) / 60;
                    pad(&mut out, minutes / 60, 2);
                    if *colon {
                        out.push(':');
                    }
                    pad(&mut out, minutes % 60, 2);
                }
            }
            Token::ZoneName => {
                let zone = at.time_zone();
                out.push_str(zone.to_offset_info(at.timestamp()).abbreviation());
            }
            Token::Literal(text) => out.push_str(text),
        }
    }
    out
}

/// TIMESTAMPTOSTRING: epoch milliseconds as text in `pattern`, in `zone` (UTC if none).
pub fn format_millis(
    millis: i64,
    pattern: &str,
    zone_name: Option<&str>,
) -> Result<String, String> {
    let tokens = compile(pattern)?;
    let at = Timestamp::from_millisecond(millis)
        .map_err(|e| e.to_string())?
        .to_zoned_datetime(zone(zone_name)?);
    Ok(write(&tokens, &at))
}

/// DATETOSTRING: days since 1970-01-01 as text in `pattern`.
pub fn format_days(days: i64, pattern: &str) -> Result<String, String> {
    format_millis(days * 86_400_000, pattern, None)
}

#[derive(Default)]
struct Fields {
    year: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
    hour: Option<i64>,
    pm: Option<bool>,
    minute: Option<i64>,
    second: Option<i64>,
    nanos: Option<i64>,
    /// A zone named in the text (`z`), whose rules give the offset at the local time read.
    zone: Option<TimeZone>,
    offset_seconds: Option<i32>,
}

fn read(tokens: &[Token], text: &str, pattern: &str) -> Result<Fields, String> {
    let mismatch = || format!("'{text}' does not match the pattern '{pattern}'");
    let mut rest = text;
    let mut fields = Fields::default();
    let number = |rest: &mut &str, width: usize, exact: bool| -> Result<(i64, usize), String> {
        let digits: usize = rest.chars().take_while(char::is_ascii_digit).count();
        let take = if exact { width } else { digits };
        if digits < take || take == 0 {
            return Err(mismatch());
        }
        let (head, tail) = rest.split_at(take);
        *rest = tail;
        Ok((head.parse().map_err(|_| mismatch())?, take))
    };
    for (index, token) in tokens.iter().enumerate() {
        // A field right before another number field has exactly its pattern's width.
        let exact = matches!(
            tokens.get(index + 1),
            Some(
                Token::Year(_)
                    | Token::Month(_)
                    | Token::Day(_)
                    | Token::Hour24(_)
                    | Token::Hour12(_)
                    | Token::Minute(_)
                    | Token::Second(_)
                    | Token::Fraction(_)
            )
        );
        match token {
            Token::Year(width) => {
                let (year, taken) = number(&mut rest, *width, exact || *width == 4)?;
                fields.year = Some(if taken == 2 { 2000 + year } else { year });
            }
            Token::Month(width) => fields.month = Some(number(&mut rest, *width, exact)?.0),
            Token::Day(width) => fields.day = Some(number(&mut rest, *width, exact)?.0),
            Token::Hour24(width) | Token::Hour12(width) => {
                fields.hour = Some(number(&mut rest, *width, exact)?.0)
            }
            Token::Minute(width) => fields.minute = Some(number(&mut rest, *width, exact)?.0),
            Token::Second(width) => fields.second = Some(number(&mut rest, *width, exact)?.0),
            Token::Fraction(width) => {
                let (value, taken) = number(&mut rest, *width, exact)?;
                let scale = 10i64.pow(u32::try_from(9usize.saturating_sub(taken)).unwrap_or(0));
                fields.nanos = Some(value * scale);
            }
            Token::MonthName { long } => {
                let found = MONTHS.iter().position(|m| {
                    let name = if *long { *m } else { &m[..3] };
                    rest.get(..name.len())
                        .is_some_and(|head| head.eq_ignore_ascii_case(name))
                });
                let at = found.ok_or_else(mismatch)?;
                let name_len = if *long { MONTHS[at].len() } else { 3 };
                rest = &rest[name_len..];
                fields.month = Some(at as i64 + 1);
            }
            Token::DayName { long } => {
                let found = DAYS.iter().find(|d| {
                    let name = if *long { **d } else { &d[..3] };
                    rest.get(..name.len())
                        .is_some_and(|head| head.eq_ignore_ascii_case(name))
                });
                let name = found.ok_or_else(mismatch)?;
                rest = &rest[if *long { name.len() } else { 3 }..];
            }
            Token::AmPm => {
                let head = rest.get(..2).ok_or_else(mismatch)?;
                fields.pm = Some(match head.to_ascii_uppercase().as_str() {
                    "AM" => false,
                    "PM" => true,
                    _ => return Err(mismatch()),
                });
                rest = &rest[2..];
            }
            Token::ZoneName => {
                let length = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || "/_+-".contains(c)))
                    .unwrap_or(rest.len());
                fields.zone = Some(named_zone(&rest[..length]).map_err(|_| mismatch())?);
                rest = &rest[length..];
            }
            Token::Offset { .. } => {
                // Java's formatter for these patterns reads case-insensitively: `z` is UTC too
                // (stringtimestamp.json in ksqlDB's QTT).
                if let Some(after) = rest.strip_prefix(['Z', 'z']) {
                    rest = after;
                    fields.offset_seconds = Some(0);
                    continue;
                }
                let sign = match rest.chars().next() {
                    Some('+') => 1,
                    Some('-') => -1,
                    _ => return Err(mismatch()),
                };
                rest = &rest[1..];
                let (hours, _) = number(&mut rest, 2, true)?;
                if let Some(after) = rest.strip_prefix(':') {
                    rest = after;
                }
                let minutes = if rest.starts_with(|c: char| c.is_ascii_digit()) {
                    number(&mut rest, 2, true)?.0
                } else {
                    0
                };
                fields.offset_seconds = Some(
                    sign * i32::try_from(hours * 3600 + minutes * 60).map_err(|_| mismatch())?,
                );
            }
            Token::Literal(literal) => {
                rest = rest.strip_prefix(literal.as_str()).ok_or_else(mismatch)?;
            }
        }
    }
    if !rest.is_empty() {
        return Err(mismatch());
    }
    Ok(fields)
}

fn civil(fields: &Fields) -> Result<DateTime, String> {
    let small = |v: Option<i64>, default: i64| {
        i8::try_from(v.unwrap_or(default)).map_err(|e| e.to_string())
    };
    let mut hour = fields.hour.unwrap_or(0);
    if let Some(pm) = fields.pm {
        hour = hour % 12 + if pm { 12 } else { 0 };
    }
    let date = Date::new(
        i16::try_from(fields.year.unwrap_or(1970)).map_err(|e| e.to_string())?,
        small(fields.month, 1)?,
        small(fields.day, 1)?,
    )
    .map_err(|e| e.to_string())?;
    let time = jiff::civil::Time::new(
        small(Some(hour), 0)?,
        small(fields.minute, 0)?,
        small(fields.second, 0)?,
        i32::try_from(fields.nanos.unwrap_or(0)).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    Ok(date.to_datetime(time))
}

/// STRINGTOTIMESTAMP: text in `pattern` as epoch milliseconds; an offset in the text wins
/// over `zone` (UTC if neither).
pub fn parse_millis(text: &str, pattern: &str, zone_name: Option<&str>) -> Result<i64, String> {
    let tokens = compile(pattern)?;
    let fields = read(&tokens, text, pattern)?;
    let datetime = civil(&fields)?;
    let zone = match fields.offset_seconds {
        Some(seconds) => {
            TimeZone::fixed(jiff::tz::Offset::from_seconds(seconds).map_err(|e| e.to_string())?)
        }
        None => match fields.zone.clone() {
            Some(named) => named,
            None => zone(zone_name)?,
        },
    };
    Ok(datetime
        .to_zoned_datetime(zone)
        .map_err(|e| e.to_string())?
        .timestamp()
        .as_millisecond())
}

/// STRINGTODATE: text in `pattern` as days since 1970-01-01.
pub fn parse_days(text: &str, pattern: &str) -> Result<i64, String> {
    Ok(parse_millis(text, pattern, None)?.div_euclid(86_400_000))
}

/// Whether a pattern has fields of a date (year, month, day) and of a time of day (hours,
/// minutes, seconds, fractions, AM/PM), for PARSE_DATE and PARSE_TIME, which refuse the other
/// kind.
pub fn pattern_fields(pattern: &str) -> Result<(bool, bool), String> {
    let tokens = compile(pattern)?;
    let date = tokens.iter().any(|t| {
        matches!(
            t,
            Token::Year(_)
                | Token::Month(_)
                | Token::MonthName { .. }
                | Token::Day(_)
                | Token::DayName { .. }
        )
    });
    let time = tokens.iter().any(|t| {
        matches!(
            t,
            Token::Hour24(_)
                | Token::Hour12(_)
                | Token::Minute(_)
                | Token::Second(_)
                | Token::Fraction(_)
                | Token::AmPm
        )
    });
    Ok((date, time))
}

/// The offset from UTC, in milliseconds, of a time zone at an instant (for CONVERT_TZ).
pub fn offset_millis(zone_name: &str, millis: i64) -> Result<i64, String> {
    let zone = zone(Some(zone_name))?;
    let at = Timestamp::from_millisecond(millis).map_err(|e| e.to_string())?;
    Ok(i64::from(zone.to_offset(at).seconds()) * 1000)
}

pub fn now_millis() -> i64 {
    Timestamp::now().as_millisecond()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

const DAY_MILLIS: i64 = 86_400_000;

/// A DATE as ksqlDB prints it (CAST to STRING): `yyyy-MM-dd`.
pub fn date_text(days: i32) -> String {
    format_days(i64::from(days), "yyyy-MM-dd").unwrap_or_else(|_| days.to_string())
}

/// A TIME as Java's LocalTime prints it, as ksqlDB casts it to STRING: `HH:mm`, with the
/// seconds when they or the milliseconds are not zero, and the milliseconds when not zero.
pub fn time_text(millis: i32) -> String {
    let millis = i64::from(millis).rem_euclid(DAY_MILLIS);
    let (hours, minutes) = (millis / 3_600_000, millis / 60_000 % 60);
    let (seconds, fraction) = (millis / 1000 % 60, millis % 1000);
    match (seconds, fraction) {
        (0, 0) => format!("{hours:02}:{minutes:02}"),
        (_, 0) => format!("{hours:02}:{minutes:02}:{seconds:02}"),
        _ => format!("{hours:02}:{minutes:02}:{seconds:02}.{fraction:03}"),
    }
}

/// A TIMESTAMP as ksqlDB prints it (CAST to STRING): `yyyy-MM-ddTHH:mm:ss.SSS`, in UTC.
pub fn timestamp_text(millis: i64) -> String {
    format_millis(millis, "yyyy-MM-dd'T'HH:mm:ss.SSS", Some("UTC"))
        .unwrap_or_else(|_| millis.to_string())
}

fn number(text: &str, max_len: usize) -> Option<i64> {
    (!text.is_empty() && text.len() <= max_len && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// A date as CAST(... AS DATE) reads it: `yyyy-MM-dd`, or a part of it (`yyyy-MM`, `yyyy`)
/// meaning its first day.
pub fn parse_date_text(text: &str) -> Option<i32> {
    let mut parts = text.trim().split('-');
    let year = number(parts.next()?, 9)?;
    let month = parts.next().map_or(Some(1), |m| number(m, 2))?;
    let day = parts.next().map_or(Some(1), |d| number(d, 2))?;
    if parts.next().is_some() {
        return None;
    }
    let (month, day) = (u32::try_from(month).ok()?, u32::try_from(day).ok()?);
    // jiff checks the day exists in that month.
    Date::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
    )
    .ok()?;
    i32::try_from(days_from_civil(year, month, day)).ok()
}

/// A time of day as CAST(... AS TIME) reads it: `HH:mm`, `HH:mm:ss` or `HH:mm:ss.fff`
/// (up to nanoseconds, kept to the millisecond).
pub fn parse_time_text(text: &str) -> Option<i32> {
    let (clock, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    let mut parts = clock.split(':');
    let hours = number(parts.next()?, 2)?;
    let minutes = number(parts.next()?, 2)?;
    let seconds = parts.next().map_or(Some(0), |s| number(s, 2))?;
    if parts.next().is_some() || hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    let millis = if fraction.is_empty() {
        0
    } else {
        let digits = number(fraction, 9)?;
        digits * 1000 / 10i64.pow(fraction.len() as u32)
    };
    i32::try_from(((hours * 60 + minutes) * 60 + seconds) * 1000 + millis).ok()
}

/// A timestamp as CAST(... AS TIMESTAMP) reads it: a date as `parse_date_text` reads it,
/// then optionally `T` and a time as `parse_time_text` reads it, then optionally `Z` or an
/// offset `+hh:mm`; without an offset the time is UTC.
pub fn parse_timestamp_text(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, time) = text.split_once('T').unwrap_or((text, ""));
    let days = i64::from(parse_date_text(date)?);
    let (clock, offset) = if let Some(clock) = time.strip_suffix('Z') {
        (clock, 0)
    } else if let Some(at) = time.rfind(['+', '-']) {
        let (clock, zone) = time.split_at(at);
        let (hours, minutes) = zone[1..].split_once(':').unwrap_or((&zone[1..], "0"));
        let minutes = (number(hours, 2)? * 60 + number(minutes, 2)?) * 60_000;
        (
            clock,
            if zone.starts_with('-') {
                -minutes
            } else {
                minutes
            },
        )
    } else {
        (time, 0)
    };
    let millis = if clock.is_empty() {
        0
    } else {
        i64::from(parse_time_text(clock)?)
    };
    Some(days * DAY_MILLIS + millis - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2024-03-05T13:04:05.067Z
    const AT: i64 = 1_709_643_845_067;

    #[test]
    fn formats_like_java_patterns() {
        let cases = [
            ("yyyy-MM-dd HH:mm:ss.SSS", "2024-03-05 13:04:05.067"),
            ("yyyy-MM-dd'T'HH:mm:ssX", "2024-03-05T13:04:05Z"),
            ("dd MMM yy, h:mm a", "05 Mar 24, 1:04 PM"),
            ("EEEE d MMMM yyyy", "Tuesday 5 March 2024"),
            ("HH:mm Z", "13:04 +0000"),
            ("'It''s' HH 'o''clock'", "It's 13 o'clock"),
        ];
        for (pattern, want) in cases {
            assert_eq!(format_millis(AT, pattern, None).unwrap(), want, "{pattern}");
        }
        assert_eq!(
            format_millis(AT, "yyyy-MM-dd HH:mm XXX", Some("+05:30")).unwrap(),
            "2024-03-05 18:34 +05:30"
        );
        assert_eq!(format_days(19_787, "yyyy-MM-dd").unwrap(), "2024-03-05");
        assert!(format_millis(AT, "yyyy-MM-dd Q", None)
            .unwrap_err()
            .contains("'Q'"));
        assert!(format_millis(AT, "HH", Some("Mars/Olympus"))
            .unwrap_err()
            .contains("unknown time zone"));
    }

    /// `z` writes the zone's short name and reads Java's short IDs with their zone's rules
    /// (bin9/timestamp-to-string.json and bin9/stringtimestamp.json in ksqlDB's QTT).
    #[test]
    fn zone_names_as_java_writes_and_reads_them() {
        let at = 1_526_075_913_000;
        assert_eq!(
            format_millis(at, "yyyy-MM-dd HH:mm:ss zzz", Some("America/Los_Angeles")).unwrap(),
            "2018-05-11 14:58:33 PDT"
        );
        assert_eq!(
            format_millis(at, "HH:mm z", Some("Europe/London")).unwrap(),
            "22:58 BST"
        );
        // PST is America/Los_Angeles, so a May time is read at its daylight offset (-7).
        assert_eq!(
            parse_millis("2018-05-11T21:58:33 PST", "yyyy-MM-dd'T'HH:mm:ss zzz", None).unwrap(),
            1_526_101_113_000
        );
        assert_eq!(
            parse_millis("2018-05-11T21:58:33 UTC", "yyyy-MM-dd'T'HH:mm:ss zzz", None).unwrap(),
            at
        );
        assert_eq!(
            parse_millis("2020-05-11T21:58:33z", "yyyy-MM-dd'T'HH:mm:ssX", None).unwrap(),
            1_589_234_313_000
        );
    }

    #[test]
    fn parses_what_it_formats() {
        for pattern in [
            "yyyy-MM-dd HH:mm:ss.SSS",
            "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
            "yyyyMMddHHmmssSSS",
            "dd MMM yyyy hh:mm:ss.SSS a",
        ] {
            let text = format_millis(AT, pattern, None).unwrap();
            assert_eq!(parse_millis(&text, pattern, None).unwrap(), AT, "{pattern}");
        }
        assert_eq!(
            parse_millis(
                "2024-03-05 18:34:05.067",
                "yyyy-MM-dd HH:mm:ss.SSS",
                Some("+05:30")
            )
            .unwrap(),
            AT
        );
        assert_eq!(
            parse_millis(
                "2024-03-05T14:04:05.067+01:00",
                "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
                Some("UTC")
            )
            .unwrap(),
            AT,
            "an offset in the text wins over the zone argument"
        );
        assert_eq!(parse_days("2024-03-05", "yyyy-MM-dd").unwrap(), 19_787);
        assert_eq!(parse_date_text("2024-03-05"), Some(19_787));
        assert!(parse_millis("2024-13-05", "yyyy-MM-dd", None).is_err());
        assert!(parse_millis("05/03/2024", "yyyy-MM-dd", None)
            .unwrap_err()
            .contains("does not match"));
    }
}

#[cfg(test)]
mod iso_tests {
    use super::*;

    #[test]
    fn dates_times_and_timestamps_print_and_read_as_ksqldb_casts_them() {
        // date.json and time.json: CAST to and from STRING.
        assert_eq!(date_text(10), "1970-01-11");
        assert_eq!(date_text(-1), "1969-12-31");
        assert_eq!(parse_date_text("1970-01-10"), Some(9));
        assert_eq!(parse_date_text("1970-01"), Some(0));
        assert_eq!(parse_date_text("1969-12-31"), Some(-1));
        assert_eq!(parse_date_text("foo"), None);
        assert_eq!(parse_date_text("2023-02-29"), None);
        assert_eq!(time_text(5000), "00:00:05");
        assert_eq!(time_text(60_000), "00:01");
        assert_eq!(time_text(10), "00:00:00.010");
        assert_eq!(parse_time_text("00:00:00.010"), Some(10));
        assert_eq!(parse_time_text("00:00:01"), Some(1000));
        assert_eq!(parse_time_text("00:01"), Some(60_000));
        assert_eq!(parse_time_text("foo"), None);
        assert_eq!(timestamp_text(1_709_643_845_067), "2024-03-05T13:04:05.067");
        assert_eq!(
            parse_timestamp_text("2024-03-05T13:04:05.067"),
            Some(1_709_643_845_067)
        );
        assert_eq!(
            parse_timestamp_text("2024-03-05T14:04:05.067+01:00"),
            Some(1_709_643_845_067)
        );
        assert_eq!(parse_timestamp_text("1970-01-02"), Some(86_400_000));
    }
}
