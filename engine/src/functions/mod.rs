//! ksqlDB's scalar functions: which names exist, how many arguments each takes, the type
//! each returns, and their evaluation with ksqlDB's null rules.
//!
//! Behaviour follows ksqlDB's UDF sources (`io.confluent.ksql.function.udf.*`) rather than
//! only its documentation where the two disagree (LOG of one argument is the natural
//! logarithm there, as its own query-validation tests expect). The date and time functions
//! take TIMESTAMP, DATE and TIME values or their numbers (epoch milliseconds, epoch days,
//! milliseconds of the day) and give typed values where ksqlDB's give those types.

mod json;
mod math;
mod string;
mod time;

use crate::sql::ast::SqlType;
use crate::value::Value;

/// A call that cannot produce a value for this row.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FunctionError {
    /// An argument of a type the function has no overload for: ksqlDB refuses such a
    /// statement; the engine, typing values as it meets them, rejects the row.
    #[error("{0}")]
    Type(String),
    /// The function failed on these values (an unparseable date, an unknown encoding).
    /// ksqlDB logs these to its processing log and the call's value is NULL.
    #[error("{0}")]
    Failed(String),
}

pub type Outcome = Result<Value, FunctionError>;

/// How many arguments a function takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    Range(usize, usize),
    AtLeast(usize),
    /// Exactly one of two counts (MASK: 1 or 5).
    Either(usize, usize),
}

impl Arity {
    pub fn accepts(self, count: usize) -> bool {
        match self {
            Arity::Range(min, max) => (min..=max).contains(&count),
            Arity::AtLeast(min) => count >= min,
            Arity::Either(a, b) => count == a || count == b,
        }
    }

    pub fn describe(self) -> String {
        match self {
            Arity::Range(min, max) if min == max => min.to_string(),
            Arity::Range(min, max) if max == min + 1 => format!("{min} or {max}"),
            Arity::Range(min, max) => format!("{min} to {max}"),
            Arity::AtLeast(min) => format!("{min} or more"),
            Arity::Either(a, b) => format!("{a} or {b}"),
        }
    }
}

macro_rules! functions {
    ($($variant:ident: $first:literal $(| $alias:literal)* => $arity:expr,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Function {
            $($variant,)*
        }

        impl Function {
            /// The function of a (upper-case) name and the arguments it takes.
            pub fn lookup(name: &str) -> Option<(Function, Arity)> {
                use Arity::*;
                Some(match name {
                    $($first $(| $alias)* => (Function::$variant, $arity),)*
                    _ => return None,
                })
            }

            /// The function's ksqlDB name, for messages.
            pub fn name(self) -> &'static str {
                match self {
                    $(Function::$variant => $first,)*
                }
            }

            /// Every name the engine knows, aliases included.
            pub const NAMES: &'static [&'static str] = &[$($first, $($alias,)*)*];
        }
    };
}

functions! {
    // Numbers.
    Abs: "ABS" => Range(1, 1),
    Ceil: "CEIL" => Range(1, 1),
    Floor: "FLOOR" => Range(1, 1),
    Round: "ROUND" => Range(1, 2),
    Trunc: "TRUNC" => Range(1, 2),
    Sign: "SIGN" => Range(1, 1),
    Sqrt: "SQRT" => Range(1, 1),
    Cbrt: "CBRT" => Range(1, 1),
    Exp: "EXP" => Range(1, 1),
    Ln: "LN" => Range(1, 1),
    Log: "LOG" => Range(1, 2),
    Power: "POWER" => Range(2, 2),
    Pi: "PI" => Range(0, 0),
    Random: "RANDOM" => Range(0, 0),
    Degrees: "DEGREES" => Range(1, 1),
    Radians: "RADIANS" => Range(1, 1),
    Sin: "SIN" => Range(1, 1),
    Cos: "COS" => Range(1, 1),
    Tan: "TAN" => Range(1, 1),
    Cot: "COT" => Range(1, 1),
    Asin: "ASIN" => Range(1, 1),
    Acos: "ACOS" => Range(1, 1),
    Atan: "ATAN" => Range(1, 1),
    Atan2: "ATAN2" => Range(2, 2),
    Sinh: "SINH" => Range(1, 1),
    Cosh: "COSH" => Range(1, 1),
    Tanh: "TANH" => Range(1, 1),
    Greatest: "GREATEST" => AtLeast(1),
    Least: "LEAST" => AtLeast(1),
    GeoDistance: "GEO_DISTANCE" => Range(4, 5),
    // Strings. UPPER, LOWER, LENGTH, LTRIM and RTRIM are the engine's own aliases and
    // additions; ksqlDB has only UCASE, LCASE, LEN and TRIM.
    Upper: "UCASE" | "UPPER" => Range(1, 1),
    Lower: "LCASE" | "LOWER" => Range(1, 1),
    Len: "LEN" | "LENGTH" => Range(1, 1),
    Concat: "CONCAT" => AtLeast(1),
    ConcatWs: "CONCAT_WS" => AtLeast(2),
    Substring: "SUBSTRING" => Range(2, 3),
    Trim: "TRIM" => Range(1, 1),
    Ltrim: "LTRIM" => Range(1, 1),
    Rtrim: "RTRIM" => Range(1, 1),
    Replace: "REPLACE" => Range(3, 3),
    Lpad: "LPAD" => Range(3, 3),
    Rpad: "RPAD" => Range(3, 3),
    Initcap: "INITCAP" => Range(1, 1),
    Instr: "INSTR" => Range(2, 4),
    Split: "SPLIT" => Range(2, 2),
    Mask: "MASK" => Either(1, 5),
    MaskKeepLeft: "MASK_KEEP_LEFT" => Either(2, 6),
    MaskKeepRight: "MASK_KEEP_RIGHT" => Either(2, 6),
    MaskLeft: "MASK_LEFT" => Either(2, 6),
    MaskRight: "MASK_RIGHT" => Either(2, 6),
    Encode: "ENCODE" => Range(3, 3),
    Chr: "CHR" => Range(1, 1),
    Uuid: "UUID" => Range(0, 0),
    Elt: "ELT" => AtLeast(1),
    Field: "FIELD" => AtLeast(1),
    RegexpExtract: "REGEXP_EXTRACT" => Range(2, 3),
    RegexpExtractAll: "REGEXP_EXTRACT_ALL" => Range(2, 3),
    RegexpReplace: "REGEXP_REPLACE" => Range(3, 3),
    RegexpSplitToArray: "REGEXP_SPLIT_TO_ARRAY" => Range(2, 2),
    // JSON in strings.
    ExtractJsonField: "EXTRACTJSONFIELD" => Range(2, 2),
    IsJsonString: "IS_JSON_STRING" => Range(1, 1),
    JsonArrayLength: "JSON_ARRAY_LENGTH" => Range(1, 1),
    JsonArrayContains: "JSON_ARRAY_CONTAINS" => Range(2, 2),
    JsonKeys: "JSON_KEYS" => Range(1, 1),
    JsonConcat: "JSON_CONCAT" => AtLeast(1),
    ToJsonString: "TO_JSON_STRING" => Range(1, 1),
    // Nulls and keys.
    Coalesce: "COALESCE" => AtLeast(1),
    IfNull: "IFNULL" => Range(2, 2),
    NullIf: "NULLIF" => Range(2, 2),
    AsValue: "AS_VALUE" => Range(1, 1),
    // Dates and times.
    UnixTimestamp: "UNIX_TIMESTAMP" => Range(0, 1),
    UnixDate: "UNIX_DATE" => Range(0, 1),
    TimestampToString: "TIMESTAMPTOSTRING" => Range(2, 3),
    StringToTimestamp: "STRINGTOTIMESTAMP" => Range(2, 3),
    DateToString: "DATETOSTRING" => Range(2, 2),
    StringToDate: "STRINGTODATE" => Range(2, 2),
    FormatTimestamp: "FORMAT_TIMESTAMP" => Range(2, 3),
    ParseTimestamp: "PARSE_TIMESTAMP" => Range(2, 3),
    FormatDate: "FORMAT_DATE" => Range(2, 2),
    ParseDate: "PARSE_DATE" => Range(2, 2),
    FormatTime: "FORMAT_TIME" => Range(2, 2),
    ParseTime: "PARSE_TIME" => Range(2, 2),
    FromUnixtime: "FROM_UNIXTIME" => Range(1, 1),
    FromDays: "FROM_DAYS" => Range(1, 1),
    TimestampAdd: "TIMESTAMPADD" => Range(3, 3),
    TimestampSub: "TIMESTAMPSUB" => Range(3, 3),
    DateAdd: "DATEADD" => Range(3, 3),
    DateSub: "DATESUB" => Range(3, 3),
    TimeAdd: "TIMEADD" => Range(3, 3),
    TimeSub: "TIMESUB" => Range(3, 3),
    ConvertTz: "CONVERT_TZ" => Range(3, 3),
}

impl Function {
    /// Functions whose first argument is a time unit written as a bare word
    /// (`TIMESTAMPADD(SECONDS, 5, ts)`), which ksqlDB's grammar reads as a unit, not a column.
    pub fn takes_unit(self) -> bool {
        use Function::*;
        matches!(
            self,
            TimestampAdd | TimestampSub | DateAdd | DateSub | TimeAdd | TimeSub
        )
    }

    /// Functions that look at NULL arguments themselves; every other function is NULL
    /// when any argument is.
    fn sees_nulls(self) -> bool {
        use Function::*;
        matches!(
            self,
            Coalesce
                | IfNull
                | NullIf
                | AsValue
                | Concat
                | ConcatWs
                | Instr
                | Mask
                | MaskKeepLeft
                | MaskKeepRight
                | MaskLeft
                | MaskRight
                | Greatest
                | Least
                | GeoDistance
                | Elt
                | Field
                | IsJsonString
                | JsonArrayContains
                | JsonConcat
                | ToJsonString
        )
    }

    /// The type of a call's value, given its arguments' types (ksqlDB's return types, with
    /// TIMESTAMP as BIGINT and DATE and TIME as INT).
    pub fn return_type(self, args: &[SqlType]) -> SqlType {
        use Function::*;
        let first = || args.first().cloned().unwrap_or(SqlType::String);
        let widest = || {
            args.iter()
                .cloned()
                .reduce(|a, b| match (a, b) {
                    (SqlType::Double, _) | (_, SqlType::Double) => SqlType::Double,
                    (SqlType::Bigint, _) | (_, SqlType::Bigint) => SqlType::Bigint,
                    (a, _) => a,
                })
                .unwrap_or(SqlType::String)
        };
        match self {
            Abs | Ceil | Floor => match first() {
                t @ (SqlType::Int | SqlType::Bigint) => t,
                _ => SqlType::Double,
            },
            Round | Trunc => match (first(), args.len()) {
                (SqlType::Decimal { precision, scale }, 1) => SqlType::Decimal {
                    precision: (precision - scale + 1).min(crate::decimal::MAX_PRECISION),
                    scale: 0,
                },
                (t @ SqlType::Decimal { .. }, _) => t,
                (_, 1) => SqlType::Bigint,
                (SqlType::Int | SqlType::Bigint, _) => SqlType::Bigint,
                _ => SqlType::Double,
            },
            Sign | Len | Instr | Field | JsonArrayLength => SqlType::Int,
            Sqrt | Cbrt | Exp | Ln | Log | Power | Pi | Random | Degrees | Radians | Sin | Cos
            | Tan | Cot | Asin | Acos | Atan | Atan2 | Sinh | Cosh | Tanh | GeoDistance => {
                SqlType::Double
            }
            Greatest | Least | Coalesce | IfNull => widest(),
            NullIf | AsValue => first(),
            Split | RegexpExtractAll | RegexpSplitToArray | JsonKeys => {
                SqlType::Array(Box::new(SqlType::String))
            }
            IsJsonString | JsonArrayContains => SqlType::Boolean,
            Upper | Lower | Concat | ConcatWs | Substring | Trim | Ltrim | Rtrim | Replace
            | Lpad | Rpad | Initcap | Mask | MaskKeepLeft | MaskKeepRight | MaskLeft
            | MaskRight | Encode | Chr | Uuid | Elt | RegexpExtract | RegexpReplace
            | ExtractJsonField | JsonConcat | ToJsonString | TimestampToString | DateToString
            | FormatTimestamp | FormatDate | FormatTime => SqlType::String,
            UnixTimestamp | StringToTimestamp => SqlType::Bigint,
            ParseTimestamp | FromUnixtime | TimestampAdd | TimestampSub | ConvertTz => {
                SqlType::Timestamp
            }
            UnixDate | StringToDate => SqlType::Int,
            ParseDate | FromDays | DateAdd | DateSub => SqlType::Date,
            ParseTime | TimeAdd | TimeSub => SqlType::Time,
        }
    }
}

/// Calls a function on its evaluated arguments.
pub fn call(function: Function, args: &[Value]) -> Outcome {
    use Function::*;
    if !function.sees_nulls() && args.iter().any(Value::is_null) {
        return Ok(Value::Null);
    }
    match function {
        Abs | Ceil | Floor | Round | Trunc | Sign | Sqrt | Cbrt | Exp | Ln | Log | Power | Pi
        | Random | Degrees | Radians | Sin | Cos | Tan | Cot | Asin | Acos | Atan | Atan2
        | Sinh | Cosh | Tanh | Greatest | Least | GeoDistance => math::call(function, args),
        Upper | Lower | Len | Concat | ConcatWs | Substring | Trim | Ltrim | Rtrim | Replace
        | Lpad | Rpad | Initcap | Instr | Split | Mask | MaskKeepLeft | MaskKeepRight
        | MaskLeft | MaskRight | Encode | Chr | Uuid | Elt | Field | RegexpExtract
        | RegexpExtractAll | RegexpReplace | RegexpSplitToArray => string::call(function, args),
        ExtractJsonField | IsJsonString | JsonArrayLength | JsonArrayContains | JsonKeys
        | JsonConcat | ToJsonString => json::call(function, args),
        Coalesce | IfNull => Ok(args
            .iter()
            .find(|a| !a.is_null())
            .cloned()
            .unwrap_or(Value::Null)),
        NullIf => Ok(match (&args[0], &args[1]) {
            (a, b) if equal(a, b) => Value::Null,
            (a, _) => a.clone(),
        }),
        AsValue => Ok(args[0].clone()),
        UnixTimestamp | UnixDate | TimestampToString | StringToTimestamp | DateToString
        | StringToDate | FormatTimestamp | ParseTimestamp | FormatDate | ParseDate | FormatTime
        | ParseTime | FromUnixtime | FromDays | TimestampAdd | TimestampSub | DateAdd | DateSub
        | TimeAdd | TimeSub | ConvertTz => time::call(function, args),
    }
}

/// Equality as ksqlDB's NULLIF and FIELD see it: NULL equals nothing; numbers compare by
/// value.
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Array(x), Value::Array(y)) => x == y,
        _ => a.compare(b).is_some_and(|o| o.is_eq()),
    }
}

fn type_error(function: Function, what: &str, got: &Value) -> FunctionError {
    FunctionError::Type(format!(
        "{} takes {what}, got {}",
        name_of(function),
        describe(got)
    ))
}

fn name_of(function: Function) -> &'static str {
    function.name()
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

/// The argument as text.
fn text(function: Function, args: &[Value], i: usize) -> Result<&str, FunctionError> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(type_error(function, "a string", other)),
        None => Err(FunctionError::Type(format!(
            "{} is missing argument {}",
            name_of(function),
            i + 1
        ))),
    }
}

/// The argument as text, or None when it is NULL.
fn text_or_null(
    function: Function,
    args: &[Value],
    i: usize,
) -> Result<Option<&str>, FunctionError> {
    match args.get(i) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => text(function, args, i).map(Some),
    }
}

/// An INT or BIGINT argument; a DOUBLE does not narrow implicitly in ksqlDB.
fn integer(function: Function, args: &[Value], i: usize) -> Result<i64, FunctionError> {
    match args.get(i) {
        Some(Value::Integer(n)) => Ok(*n),
        Some(other) => Err(type_error(function, "an integer", other)),
        None => Err(FunctionError::Type(format!(
            "{} is missing argument {}",
            name_of(function),
            i + 1
        ))),
    }
}

/// An INT argument (a Java int parameter): values beyond 32 bits cannot be passed.
fn int32(function: Function, args: &[Value], i: usize) -> Result<i32, FunctionError> {
    let n = integer(function, args, i)?;
    i32::try_from(n).map_err(|_| type_error(function, "an INT", &Value::Integer(n)))
}

/// A numeric argument widened to DOUBLE, as ksqlDB widens INT and BIGINT for a DOUBLE
/// parameter.
fn number(function: Function, args: &[Value], i: usize) -> Result<f64, FunctionError> {
    match args.get(i) {
        Some(Value::Integer(n)) => Ok(*n as f64),
        Some(Value::Double(d)) => Ok(*d),
        Some(other) => Err(type_error(function, "a number", other)),
        None => Err(FunctionError::Type(format!(
            "{} is missing argument {}",
            name_of(function),
            i + 1
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_looks_up_and_arities_say_what_they_accept() {
        for name in Function::NAMES {
            assert!(Function::lookup(name).is_some(), "{name}");
        }
        assert_eq!(Function::MaskKeepLeft.name(), "MASK_KEEP_LEFT");
        assert_eq!(Function::Upper.name(), "UCASE");
        let (mask, arity) = Function::lookup("MASK").unwrap();
        assert_eq!(mask, Function::Mask);
        assert!(arity.accepts(1) && arity.accepts(5) && !arity.accepts(2));
        assert_eq!(arity.describe(), "1 or 5");
        assert_eq!(Arity::Range(2, 4).describe(), "2 to 4");
        assert_eq!(Arity::AtLeast(2).describe(), "2 or more");
        assert!(Function::lookup("NO_SUCH_FUNCTION").is_none());
    }

    #[test]
    fn null_arguments_give_null_except_where_ksqldb_looks_at_them() {
        let null_and = |v: Value| vec![Value::Null, v];
        assert_eq!(call(Function::Upper, &[Value::Null]), Ok(Value::Null));
        assert_eq!(
            call(Function::Coalesce, &null_and(Value::Integer(2))),
            Ok(Value::Integer(2))
        );
        // NullIf.java: NULL when the first is NULL, the first when the second is.
        assert_eq!(
            call(Function::NullIf, &null_and(Value::Integer(2))),
            Ok(Value::Null)
        );
        assert_eq!(
            call(Function::NullIf, &[Value::Integer(2), Value::Null]),
            Ok(Value::Integer(2))
        );
        assert_eq!(
            call(Function::NullIf, &[Value::Integer(2), Value::Integer(2)]),
            Ok(Value::Null)
        );
        assert_eq!(
            call(
                Function::NullIf,
                &[Value::String("a".into()), Value::String("b".into())]
            ),
            Ok(Value::String("a".into()))
        );
    }

    #[test]
    fn return_types_follow_ksqldb_overloads() {
        use SqlType::*;
        assert_eq!(Function::Abs.return_type(&[Int]), Int);
        assert_eq!(Function::Ceil.return_type(&[Double]), Double);
        assert_eq!(Function::Round.return_type(&[Double]), Bigint);
        assert_eq!(Function::Round.return_type(&[Double, Int]), Double);
        assert_eq!(Function::Sign.return_type(&[Double]), Int);
        assert_eq!(Function::Len.return_type(&[String]), Int);
        assert_eq!(Function::Exp.return_type(&[Int]), Double);
        assert_eq!(Function::Coalesce.return_type(&[Int, Bigint]), Bigint);
        assert_eq!(
            Function::Split.return_type(&[String, String]),
            Array(Box::new(String))
        );
        assert_eq!(
            Function::ParseTimestamp.return_type(&[String, String]),
            Timestamp
        );
        assert_eq!(Function::ParseDate.return_type(&[String, String]), Date);
        assert_eq!(
            Function::StringToTimestamp.return_type(&[String, String]),
            Bigint
        );
    }
}
