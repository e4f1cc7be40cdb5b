//! Date and time functions, as ksqlDB's `udf.datetime` classes compute them, over epoch
//! milliseconds (TIMESTAMP), epoch days (DATE) and milliseconds of the day (TIME). They take
//! those values typed or as plain numbers, and give typed values where ksqlDB's return a
//! TIMESTAMP, DATE or TIME (so `CAST(PARSE_DATE(...) AS STRING)` is `2022-02-02`). Zones
//! default to UTC where ksqlDB takes the server's zone.

use super::{integer, text, text_or_null, type_error, Function, FunctionError, Outcome};
use crate::datetime;
use crate::value::Value;

const DAY: i64 = 86_400_000;

fn failed(message: String) -> FunctionError {
    FunctionError::Failed(message)
}

pub(super) fn call(function: Function, args: &[Value]) -> Outcome {
    use Function::*;
    let millis = |i: usize| temporal(function, args, i);
    let string = |s: String| Ok(Value::String(s.into()));
    let int = |n: i64| Ok(Value::Integer(n));
    match function {
        // With an argument, UNIX_TIMESTAMP(ts) and UNIX_DATE(date) give the value as a
        // number, which it already is here.
        UnixTimestamp | UnixDate if !args.is_empty() => int(millis(0)?),
        UnixTimestamp => int(datetime::now_millis()),
        UnixDate => int(datetime::now_millis().div_euclid(DAY)),
        FromUnixtime => Ok(Value::Timestamp(millis(0)?)),
        FromDays => days(millis(0)?),
        TimestampToString | FormatTimestamp => string(
            datetime::format_millis(
                millis(0)?,
                text(function, args, 1)?,
                text_or_null(function, args, 2)?,
            )
            .map_err(failed)?,
        ),
        StringToTimestamp | ParseTimestamp => {
            let at = datetime::parse_millis(
                text(function, args, 0)?,
                text(function, args, 1)?,
                text_or_null(function, args, 2)?,
            )
            .map_err(failed)?;
            // STRINGTOTIMESTAMP is the legacy BIGINT form.
            if function == ParseTimestamp {
                Ok(Value::Timestamp(at))
            } else {
                int(at)
            }
        }
        DateToString => {
            string(datetime::format_days(millis(0)?, text(function, args, 1)?).map_err(failed)?)
        }
        StringToDate => int(datetime::parse_days(
            text(function, args, 0)?,
            text(function, args, 1)?,
        )
        .map_err(failed)?),
        FormatDate => {
            let pattern = text(function, args, 1)?;
            refuse(
                pattern,
                false,
                "Unsupported field: time fields in a DATE format",
            )?;
            string(datetime::format_days(millis(0)?, pattern).map_err(failed)?)
        }
        ParseDate => {
            let pattern = text(function, args, 1)?;
            refuse(pattern, false, "Date format contains time field.")?;
            days(datetime::parse_days(text(function, args, 0)?, pattern).map_err(failed)?)
        }
        FormatTime => {
            let pattern = text(function, args, 1)?;
            refuse(
                pattern,
                true,
                "Unsupported field: date fields in a TIME format",
            )?;
            string(datetime::format_millis(millis(0)?, pattern, None).map_err(failed)?)
        }
        ParseTime => {
            let pattern = text(function, args, 1)?;
            refuse(pattern, true, "Time format contains date field.")?;
            Ok(Value::Time(
                datetime::parse_millis(text(function, args, 0)?, pattern, None)
                    .map_err(failed)?
                    .rem_euclid(DAY) as i32,
            ))
        }
        TimestampAdd | TimestampSub | DateAdd | DateSub | TimeAdd | TimeSub => add(function, args),
        ConvertTz => {
            let at = millis(0)?;
            let from = datetime::offset_millis(text(function, args, 1)?, at).map_err(failed)?;
            let to = datetime::offset_millis(text(function, args, 2)?, at).map_err(failed)?;
            Ok(Value::Timestamp(at.wrapping_add(to - from)))
        }
        _ => unreachable!("time::call is only given date and time functions"),
    }
}

/// Fails when a pattern has fields of the other kind: date fields for a TIME (`date` true),
/// time fields for a DATE.
fn refuse(pattern: &str, date: bool, message: &str) -> Result<(), FunctionError> {
    let (has_date, has_time) = datetime::pattern_fields(pattern).map_err(failed)?;
    if (date && has_date) || (!date && has_time) {
        return Err(failed(message.to_string()));
    }
    Ok(())
}

/// java.util.concurrent.TimeUnit.toMillis for the units ksqlDB's grammar accepts.
fn unit_millis(function: Function, unit: &Value) -> Result<i64, FunctionError> {
    let Value::String(name) = unit else {
        return Err(type_error(function, "a time unit", unit));
    };
    Ok(match name.to_ascii_uppercase().as_str() {
        "DAY" | "DAYS" => DAY,
        "HOUR" | "HOURS" => 3_600_000,
        "MINUTE" | "MINUTES" => 60_000,
        "SECOND" | "SECONDS" => 1000,
        "MILLISECOND" | "MILLISECONDS" => 1,
        other => {
            return Err(FunctionError::Type(format!(
                "{} takes a unit of DAYS, HOURS, MINUTES, SECONDS or MILLISECONDS, got {other}",
                super::name_of(function)
            )))
        }
    })
}

/// TIMESTAMPADD and the others: (unit, interval, value). A DATE moves by whole days
/// (truncating towards zero, as DateAdd.java does); a TIME wraps around midnight.
fn add(function: Function, args: &[Value]) -> Outcome {
    use Function::*;
    let unit = unit_millis(function, &args[0])?;
    let interval = integer(function, args, 1)?;
    let interval =
        i32::try_from(interval).map_err(|_| type_error(function, "an INT interval", &args[1]))?;
    let delta = unit.saturating_mul(i64::from(interval));
    let delta = match function {
        TimestampSub | DateSub | TimeSub => delta.saturating_neg(),
        _ => delta,
    };
    let value = temporal(function, args, 2)?;
    match function {
        TimestampAdd | TimestampSub => Ok(Value::Timestamp(value.wrapping_add(delta))),
        DateAdd | DateSub => days(value.saturating_mul(DAY).saturating_add(delta) / DAY),
        _ => Ok(Value::Time((value + delta % DAY).rem_euclid(DAY) as i32)),
    }
}

/// A TIMESTAMP, DATE or TIME argument as its number (milliseconds, days, milliseconds of
/// the day), typed or given as an integer.
fn temporal(function: Function, args: &[Value], i: usize) -> Result<i64, FunctionError> {
    match args.get(i) {
        Some(Value::Timestamp(t)) => Ok(*t),
        Some(Value::Date(d) | Value::Time(d)) => Ok(i64::from(*d)),
        _ => integer(function, args, i),
    }
}

/// A DATE value of so many days since 1970-01-01.
fn days(days: i64) -> Outcome {
    i32::try_from(days)
        .map(Value::Date)
        .map_err(|_| failed(format!("{days} days is beyond the DATE range")))
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

    // 2024-03-05T13:04:05.067Z
    const AT: i64 = 1_709_643_845_067;

    #[test]
    fn timestamps_format_and_parse() {
        assert_eq!(
            call(
                Function::FormatTimestamp,
                &[i(AT), s("yyyy-MM-dd'T'HH:mm:ss.SSS")]
            ),
            Ok(s("2024-03-05T13:04:05.067"))
        );
        assert_eq!(
            call(
                Function::FormatTimestamp,
                &[i(AT), s("HH:mm"), s("America/Los_Angeles")]
            ),
            Ok(s("05:04"))
        );
        assert_eq!(
            call(
                Function::ParseTimestamp,
                &[s("2024-03-05 13:04:05.067"), s("yyyy-MM-dd HH:mm:ss.SSS")]
            ),
            Ok(Value::Timestamp(AT))
        );
        // STRINGTOTIMESTAMP stays the legacy BIGINT.
        assert_eq!(
            call(
                Function::StringToTimestamp,
                &[s("2024-03-05 13:04:05.067"), s("yyyy-MM-dd HH:mm:ss.SSS")]
            ),
            Ok(i(AT))
        );
        // A TIMESTAMP value formats as its milliseconds do.
        assert_eq!(
            call(
                Function::FormatTimestamp,
                &[Value::Timestamp(AT), s("yyyy-MM-dd")]
            ),
            Ok(s("2024-03-05"))
        );
        assert!(call(Function::ParseTimestamp, &[s("5 March"), s("yyyy-MM-dd")]).is_err());
        assert_eq!(
            call(Function::FromUnixtime, &[i(AT)]),
            Ok(Value::Timestamp(AT))
        );
        assert_eq!(call(Function::UnixTimestamp, &[i(AT)]), Ok(i(AT)));
    }

    #[test]
    fn dates_and_times_refuse_the_other_kind_of_field() {
        assert_eq!(
            call(Function::ParseDate, &[s("2024-03-05"), s("yyyy-MM-dd")]),
            Ok(Value::Date(19_787))
        );
        assert_eq!(
            call(
                Function::FormatDate,
                &[Value::Date(19_787), s("yyyy-MM-dd")]
            ),
            Ok(s("2024-03-05"))
        );
        assert_eq!(
            call(Function::FormatDate, &[i(19_787), s("dd/MM/yyyy")]),
            Ok(s("05/03/2024"))
        );
        assert!(call(
            Function::ParseDate,
            &[s("2024-03-05 10"), s("yyyy-MM-dd HH")]
        )
        .is_err());
        assert_eq!(
            call(Function::ParseTime, &[s("13:04:05"), s("HH:mm:ss")]),
            Ok(Value::Time(47_045_000))
        );
        assert_eq!(
            call(Function::FormatTime, &[i(47_045_000), s("hh:mm a")]),
            Ok(s("01:04 PM"))
        );
        assert!(call(Function::FormatTime, &[i(0), s("yyyy HH")]).is_err());
        assert_eq!(
            call(Function::FromDays, &[i(19_787)]),
            Ok(Value::Date(19_787))
        );
    }

    #[test]
    fn adding_intervals() {
        // timestampsub.json: MILLISECONDS, 10 from 20 is 10; MILLISECONDS, -5 from -100 is -95.
        assert_eq!(
            call(Function::TimestampSub, &[s("MILLISECONDS"), i(10), i(20)]),
            Ok(Value::Timestamp(10))
        );
        assert_eq!(
            call(Function::TimestampSub, &[s("MILLISECONDS"), i(-5), i(-100)]),
            Ok(Value::Timestamp(-95))
        );
        assert_eq!(
            call(Function::TimestampAdd, &[s("SECONDS"), i(2), i(AT)]),
            Ok(Value::Timestamp(AT + 2000))
        );
        assert_eq!(
            call(Function::TimestampAdd, &[s("SECONDS"), Value::Null, i(AT)]),
            Ok(Value::Null)
        );
        assert_eq!(
            call(Function::DateAdd, &[s("DAYS"), i(3), Value::Date(10)]),
            Ok(Value::Date(13))
        );
        assert_eq!(
            call(Function::DateSub, &[s("HOURS"), i(25), i(10)]),
            Ok(Value::Date(8))
        );
        assert_eq!(
            call(Function::TimeAdd, &[s("HOURS"), i(2), i(23 * 3_600_000)]),
            Ok(Value::Time(3_600_000))
        );
        assert_eq!(
            call(Function::TimeSub, &[s("MINUTES"), i(1), Value::Time(0)]),
            Ok(Value::Time((DAY - 60_000) as i32))
        );
        assert!(call(Function::TimestampAdd, &[s("WEEKS"), i(1), i(0)]).is_err());
    }

    #[test]
    fn convert_tz_shifts_by_the_difference_of_offsets() {
        // 13:04 UTC is 08:04 in New York on 2024-03-05 (EST, -05:00).
        assert_eq!(
            call(
                Function::ConvertTz,
                &[i(AT), s("UTC"), s("America/New_York")]
            ),
            Ok(Value::Timestamp(AT - 5 * 3_600_000))
        );
        assert!(call(Function::ConvertTz, &[i(AT), s("UTC"), s("Mars/Olympus")]).is_err());
    }
}
