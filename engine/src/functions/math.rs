//! Numeric functions, as ksqlDB's `udf.math` classes compute them with java.lang.Math and
//! BigDecimal.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};

use super::{number, type_error, Function, FunctionError, Outcome};
use crate::value::Value;

pub(super) fn call(function: Function, args: &[Value]) -> Outcome {
    use Function::*;
    let x = || number(function, args, 0);
    let double = |d: f64| Ok(Value::Double(d));
    match function {
        Abs => match &args[0] {
            Value::Integer(i) => Ok(Value::Integer(i.wrapping_abs())),
            _ => double(x()?.abs()),
        },
        Ceil | Floor => match &args[0] {
            Value::Integer(i) => Ok(Value::Integer(*i)),
            _ if function == Ceil => double(x()?.ceil()),
            _ => double(x()?.floor()),
        },
        Round | Trunc => round_or_trunc(function, args),
        Sign => Ok(Value::Integer(match &args[0] {
            Value::Integer(i) => i.signum(),
            // (int) Math.signum(d): NaN and zero are 0.
            _ => {
                let d = x()?;
                if d > 0.0 {
                    1
                } else if d < 0.0 {
                    -1
                } else {
                    0
                }
            }
        })),
        Sqrt => double(x()?.sqrt()),
        Cbrt => double(x()?.cbrt()),
        Exp => double(x()?.exp()),
        // Log.java takes Math.log for one argument: the natural logarithm, whatever the
        // documentation says, and its query-validation tests expect LOG(13) = 2.5649...
        Ln => double(x()?.ln()),
        Log if args.len() == 1 => double(x()?.ln()),
        Log => {
            let (base, value) = (x()?, number(function, args, 1)?);
            if base <= 0.0 || base == 1.0 {
                double(f64::NAN)
            } else {
                double(value.ln() / base.ln())
            }
        }
        Power => double(x()?.powf(number(function, args, 1)?)),
        Pi => double(std::f64::consts::PI),
        Random => double(random_unit()),
        Degrees => double(x()?.to_degrees()),
        Radians => double(x()?.to_radians()),
        Sin => double(x()?.sin()),
        Cos => double(x()?.cos()),
        Tan => double(x()?.tan()),
        Cot => double(1.0 / x()?.tan()),
        Asin => double(x()?.asin()),
        Acos => double(x()?.acos()),
        Atan => double(x()?.atan()),
        Atan2 => double(x()?.atan2(number(function, args, 1)?)),
        Sinh => double(x()?.sinh()),
        Cosh => double(x()?.cosh()),
        Tanh => double(x()?.tanh()),
        Greatest | Least => extreme(function, args),
        GeoDistance => geo_distance(args),
        _ => unreachable!("math::call is only given numeric functions"),
    }
}

/// ROUND and TRUNC. With one argument: Math.round (half up, so -1.5 is -1) or a cast to
/// long. With a scale: BigDecimal.valueOf(d).setScale(scale, mode), where ROUND's mode is
/// HALF_UP above zero and HALF_DOWN at or below it (ties go towards +infinity, as
/// Math.round does), and TRUNC's is DOWN.
fn round_or_trunc(function: Function, args: &[Value]) -> Outcome {
    let scale = match args.get(1) {
        None => None,
        Some(Value::Integer(n)) => {
            Some(i32::try_from(*n).map_err(|_| type_error(function, "an INT scale", &args[1]))?)
        }
        Some(other) => return Err(type_error(function, "an INT scale", other)),
    };
    match (&args[0], scale) {
        // The DECIMAL overloads: without a scale the result has none (DECIMAL(p - s + 1, 0));
        // with one it keeps the argument's type, rounded at that place.
        (Value::Decimal(d), None) => {
            let rounded = d.round_places(0, function == Function::Trunc);
            let whole = rounded.rescaled(0).unwrap_or(0);
            crate::decimal::Decimal::of(whole, 0)
                .map(|d| Value::Decimal(Box::new(d)))
                .map_err(|e| FunctionError::Failed(e.to_string()))
        }
        (Value::Decimal(d), Some(places)) => Ok(Value::Decimal(Box::new(
            d.round_places(places, function == Function::Trunc),
        ))),
        (Value::Integer(i), None) => Ok(Value::Integer(*i)),
        // ksqlDB takes its DECIMAL overload here; without DECIMAL the value is kept an
        // integer, which is what a DECIMAL of scale 0 looks like in JSON.
        (Value::Integer(i), Some(places)) => Ok(Value::Integer(round_integer(
            *i,
            places,
            function == Function::Trunc,
        ))),
        (Value::Double(d), None) if function == Function::Round => {
            Ok(Value::Integer(java_round(*d)))
        }
        // Double.longValue(): towards zero, saturating, NaN is 0 (as Rust's `as`).
        (Value::Double(d), None) => Ok(Value::Integer(*d as i64)),
        (Value::Double(d), Some(places)) => {
            let mode = match function {
                Function::Trunc => Mode::Down,
                _ if *d > 0.0 => Mode::HalfUp,
                _ => Mode::HalfDown,
            };
            decimal_round(*d, places, mode)
                .map(Value::Double)
                .ok_or_else(|| {
                    FunctionError::Failed(format!("cannot round {d}: not a finite number"))
                })
        }
        (other, _) => Err(type_error(function, "a number", other)),
    }
}

/// java.lang.Math.round: floor(x + 0.5) computed exactly, saturating, NaN is 0.
fn java_round(x: f64) -> i64 {
    let floor = x.floor();
    // x - floor(x) is exact for every finite double, so ties are seen as ties.
    let rounded = if x - floor >= 0.5 { floor + 1.0 } else { floor };
    rounded as i64
}

fn round_integer(value: i64, places: i32, truncate: bool) -> i64 {
    if places >= 0 {
        return value;
    }
    let Some(unit) = 10i64.checked_pow(places.unsigned_abs()) else {
        return 0;
    };
    let (quotient, remainder) = (value / unit, value % unit);
    let up = !truncate && {
        let twice = remainder.unsigned_abs() * 2;
        let unit = unit.unsigned_abs();
        // HALF_UP above zero, HALF_DOWN below, as for doubles.
        twice > unit || (twice == unit && value > 0)
    };
    let magnitude = if up {
        quotient + value.signum()
    } else {
        quotient
    };
    magnitude.saturating_mul(unit)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    HalfUp,
    HalfDown,
    Down,
}

/// BigDecimal.valueOf(x).setScale(places, mode).doubleValue(): valueOf takes the shortest
/// decimal that reads back as x, so rounding is done on those digits, not on the binary
/// value (ROUND(1.005, 2) is 1.01, as in ksqlDB). `mode` acts on the magnitude.
fn decimal_round(x: f64, places: i32, mode: Mode) -> Option<f64> {
    if !x.is_finite() {
        return None;
    }
    if x == 0.0 {
        return Some(0.0);
    }
    // "d.ddddde±x": the shortest digits that round-trip.
    let scientific = format!("{:e}", x.abs());
    let (mantissa, exponent) = scientific.split_once('e')?;
    let exponent: i64 = exponent.parse().ok()?;
    let digits: Vec<u8> = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    // Digits kept: those whose weight 10^(exponent - i) is at least 10^-places.
    let keep = exponent + i64::from(places) + 1;
    let count = i64::try_from(digits.len()).ok()?;
    if keep >= count {
        return Some(x);
    }
    let negative = x < 0.0;
    let sign = if negative { -1.0 } else { 1.0 };
    if keep < 0 {
        return Some(0.0 * sign);
    }
    let keep = usize::try_from(keep).ok()?;
    let next = digits[keep];
    let rest_nonzero = digits[keep + 1..].iter().any(|&d| d != 0);
    let up = match mode {
        Mode::Down => false,
        Mode::HalfUp => next >= 5,
        Mode::HalfDown => next > 5 || (next == 5 && rest_nonzero),
    };
    let mut kept: Vec<u8> = digits[..keep].to_vec();
    if up {
        let mut i = kept.len();
        loop {
            if i == 0 {
                kept.insert(0, 1);
                break;
            }
            i -= 1;
            if kept[i] == 9 {
                kept[i] = 0;
            } else {
                kept[i] += 1;
                break;
            }
        }
    }
    if kept.is_empty() {
        return Some(0.0 * sign);
    }
    let text: String = kept.iter().map(|d| char::from(b'0' + d)).collect();
    let value: f64 = format!("{text}e{}", -i64::from(places)).parse().ok()?;
    Some(value * sign)
}

/// GREATEST and LEAST: the extreme non-null argument; NULL when all are NULL. Numbers of
/// mixed types compare by value and the result widens to DOUBLE.
fn extreme(function: Function, args: &[Value]) -> Outcome {
    let mut best: Option<&Value> = None;
    let mut any_double = false;
    for arg in args.iter().filter(|a| !a.is_null()) {
        any_double |= matches!(arg, Value::Double(_));
        let Some(current) = best else {
            best = Some(arg);
            continue;
        };
        let order = arg.compare(current).ok_or_else(|| {
            FunctionError::Type(format!(
                "{} takes arguments of one type, got {current} and {arg}",
                function.name()
            ))
        })?;
        let better = if function == Function::Greatest {
            order.is_gt()
        } else {
            order.is_lt()
        };
        if better {
            best = Some(arg);
        }
    }
    Ok(match best {
        Some(Value::Integer(i)) if any_double => Value::Double(*i as f64),
        Some(value) => value.clone(),
        None => Value::Null,
    })
}

/// GeoDistance.java: the haversine great-circle distance on a sphere of radius 6371 km
/// (or 3959 miles).
fn geo_distance(args: &[Value]) -> Outcome {
    let function = Function::GeoDistance;
    if args[..4].iter().any(Value::is_null) {
        return Ok(Value::Null);
    }
    let (lat1, lon1, lat2, lon2) = (
        number(function, args, 0)?,
        number(function, args, 1)?,
        number(function, args, 2)?,
        number(function, args, 3)?,
    );
    if !(-90.0..=90.0).contains(&lat1) || !(-90.0..=90.0).contains(&lat2) {
        return Err(FunctionError::Failed(
            "valid latitude values for GeoDistance function are in the range of -90 to 90 decimal degrees".into(),
        ));
    }
    if !(-180.0..=180.0).contains(&lon1) || !(-180.0..=180.0).contains(&lon2) {
        return Err(FunctionError::Failed(
            "valid longitude values for GeoDistance function are in the range of -180 to +180 decimal degrees".into(),
        ));
    }
    let radius = match args.get(4) {
        None | Some(Value::Null) => 6371.0,
        Some(Value::String(unit)) => match unit.trim().to_lowercase().as_str() {
            "" | "km" | "kilometer" | "kilometers" | "kilometre" | "kilometres" => 6371.0,
            "mi" | "mile" | "miles" => 3959.0,
            _ => {
                return Err(FunctionError::Failed(
                    "GeoDistance function units parameter must be one of mi, mile, miles, km, kilometer, kilometers, kilometre or kilometres. Values are case-insensitive.".into(),
                ))
            }
        },
        Some(other) => return Err(type_error(function, "a unit string", other)),
    };
    let haversin = |v: f64| (v / 2.0).sin().powi(2);
    let a = haversin((lat2 - lat1).to_radians())
        + haversin((lon2 - lon1).to_radians()) * lat1.to_radians().cos() * lat2.to_radians().cos();
    Ok(Value::Double(2.0 * a.sqrt().asin() * radius))
}

thread_local! {
    static RANDOM: Cell<u64> = Cell::new(seed());
}

/// A seed from the standard library's per-process random hash keys, so RANDOM and UUID
/// need no crate and differ between runs.
pub(super) fn seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default(),
    );
    hasher.finish() | 1
}

/// The next 64 random bits (xorshift64*).
pub(super) fn random_bits() -> u64 {
    RANDOM.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// Math.random(): uniform in [0, 1).
fn random_unit() -> f64 {
    (random_bits() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(v: f64) -> Value {
        Value::Double(v)
    }

    fn i(v: i64) -> Value {
        Value::Integer(v)
    }

    fn run(function: Function, args: &[Value]) -> Value {
        super::super::call(function, args).unwrap()
    }

    #[test]
    fn round_and_trunc_of_a_decimal_keep_it_a_decimal() {
        use crate::decimal::Decimal;
        // math.json "round with large DECIMAL values": DECIMAL(33, 16).
        let v = Value::Decimal(Box::new(
            Decimal::parse("12345678987654321.2345678987654321").unwrap(),
        ));
        let text = |v: Value| v.to_string();
        assert_eq!(
            text(run(Function::Round, std::slice::from_ref(&v))),
            "12345678987654321"
        );
        assert_eq!(
            text(run(Function::Round, &[v.clone(), i(0)])),
            "12345678987654321.0000000000000000"
        );
        assert_eq!(
            text(run(Function::Round, &[v.clone(), i(10)])),
            "12345678987654321.2345678988000000"
        );
        assert_eq!(
            text(run(Function::Round, &[v.clone(), i(-2)])),
            "12345678987654300.0000000000000000"
        );
        assert_eq!(
            text(run(Function::Trunc, &[v, i(10)])),
            "12345678987654321.2345678987000000"
        );
        // HALF_DOWN below zero, as for doubles.
        let negative = Value::Decimal(Box::new(Decimal::parse("-2.5").unwrap()));
        assert_eq!(text(run(Function::Round, &[negative])), "-2");
    }

    #[test]
    fn round_follows_math_round_and_half_up_big_decimals() {
        // ksqlDB's query-validation test "round" (math.json): ROUND(v), ROUND(v, 1),
        // ROUND(v, 2), ROUND(v, -1), ROUND(v, -2).
        let cases: [(f64, i64, f64, f64, f64, f64); 8] = [
            (1.2, 1, 1.2, 1.2, 0.0, 0.0),
            (1.5, 2, 1.5, 1.5, 0.0, 0.0),
            (1.234567, 1, 1.2, 1.23, 0.0, 0.0),
            (111.0, 111, 111.0, 111.0, 110.0, 100.0),
            (-1.5, -1, -1.5, -1.5, 0.0, 0.0),
            (-1.7, -2, -1.7, -1.7, 0.0, 0.0),
            (12345.678, 12346, 12345.7, 12345.68, 12350.0, 12300.0),
            (-12345.678, -12346, -12345.7, -12345.68, -12350.0, -12300.0),
        ];
        for (v, r0, r1, r2, m1, m2) in cases {
            assert_eq!(run(Function::Round, &[d(v)]), i(r0), "{v}");
            assert_eq!(run(Function::Round, &[d(v), i(1)]), d(r1), "{v}");
            assert_eq!(run(Function::Round, &[d(v), i(2)]), d(r2), "{v}");
            assert_eq!(run(Function::Round, &[d(v), i(-1)]), d(m1), "{v}");
            assert_eq!(run(Function::Round, &[d(v), i(-2)]), d(m2), "{v}");
        }
        // Round.java's comment: ROUND(-1.5) is -1, not -2; with a scale, HALF_DOWN below 0.
        assert_eq!(run(Function::Round, &[d(-1.5), i(0)]), d(-1.0));
        assert_eq!(run(Function::Round, &[d(1.5), i(0)]), d(2.0));
        assert_eq!(run(Function::Round, &[d(-2.55), i(1)]), d(-2.5));
        assert_eq!(run(Function::Round, &[d(2.55), i(1)]), d(2.6));
        // The decimal digits, not the binary value, are rounded (1.005 is 1.00499... in
        // binary).
        assert_eq!(run(Function::Round, &[d(1.005), i(2)]), d(1.01));
        assert_eq!(run(Function::Round, &[d(0.49999999999999994)]), i(0));
        assert_eq!(run(Function::Round, &[i(7)]), i(7));
        assert_eq!(run(Function::Round, &[i(1250), i(-2)]), i(1300));
        assert_eq!(run(Function::Round, &[i(-1250), i(-2)]), i(-1200));
        assert_eq!(run(Function::Round, &[d(9.99), i(1)]), d(10.0));
        assert!(super::super::call(Function::Round, &[d(f64::NAN), i(1)]).is_err());
    }

    #[test]
    fn trunc_drops_digits_towards_zero() {
        // Trunc.java: longValue() without a scale, RoundingMode.DOWN with one.
        assert_eq!(run(Function::Trunc, &[d(1.7)]), i(1));
        assert_eq!(run(Function::Trunc, &[d(-1.7)]), i(-1));
        assert_eq!(run(Function::Trunc, &[d(12345.678), i(2)]), d(12345.67));
        assert_eq!(run(Function::Trunc, &[d(-12345.678), i(-2)]), d(-12300.0));
        assert_eq!(run(Function::Trunc, &[i(1299), i(-2)]), i(1200));
    }

    #[test]
    fn signs_ceilings_and_floors_keep_integer_types() {
        // math.json "sign", "floor", "calculate CEIL function", "abs".
        assert_eq!(run(Function::Sign, &[d(-3.0)]), i(-1));
        assert_eq!(run(Function::Sign, &[d(0.0)]), i(0));
        assert_eq!(run(Function::Sign, &[i(2)]), i(1));
        assert_eq!(run(Function::Floor, &[d(-1.1)]), d(-2.0));
        assert_eq!(run(Function::Ceil, &[d(1.1)]), d(2.0));
        assert_eq!(run(Function::Ceil, &[i(-1)]), i(-1));
        assert_eq!(run(Function::Abs, &[d(-3.1)]), d(3.1));
        assert_eq!(run(Function::Abs, &[i(-2)]), i(2));
    }

    // The constants are ksqlDB's outputs as its tests print them, not approximations.
    #[allow(clippy::approx_constant)]
    #[test]
    fn logarithms_powers_and_roots() {
        // math.json "ln", "log-base-10" (natural, as Log.java computes), "log-custom-base",
        // "power", "sqrt", "cbrt", "exp".
        assert_eq!(run(Function::Log, &[i(13)]), d(2.5649493574615367));
        assert_eq!(run(Function::Log, &[i(0)]), d(f64::NEG_INFINITY));
        let Value::Double(nan) = run(Function::Ln, &[i(-1)]) else {
            panic!()
        };
        assert!(nan.is_nan());
        assert_eq!(run(Function::Log, &[i(15), i(13)]), d(0.9471572411831843));
        let Value::Double(nan) = run(Function::Log, &[i(1), i(13)]) else {
            panic!()
        };
        assert!(nan.is_nan());
        assert_eq!(
            run(Function::Power, &[i(15), i(-1)]),
            d(0.06666666666666667)
        );
        assert_eq!(
            run(Function::Power, &[i(15), i(13)]),
            d(1.946195068359375E15)
        );
        assert_eq!(run(Function::Power, &[i(0), i(0)]), d(1.0));
        assert_eq!(run(Function::Sqrt, &[i(2)]), d(1.4142135623730951));
        assert_eq!(run(Function::Cbrt, &[i(-8)]), d(-2.0));
        assert_eq!(run(Function::Exp, &[i(1)]), d(std::f64::consts::E));
        assert_eq!(run(Function::Pi, &[]), d(3.141592653589793));
    }

    #[allow(clippy::approx_constant)]
    #[test]
    fn trigonometry_matches_ksqldb_to_13_places() {
        // math.json "atan2", "cot edge cases", "degrees", "radians".
        let r13 = |v: Value| run(Function::Round, &[v, i(13)]);
        assert_eq!(
            r13(run(Function::Atan2, &[i(-2), i(-3)])),
            d(-2.5535900500422)
        );
        assert_eq!(
            r13(run(Function::Atan2, &[i(0), i(-3)])),
            d(3.1415926535898)
        );
        assert_eq!(run(Function::Cot, &[i(0)]), d(f64::INFINITY));
        assert_eq!(
            run(Function::Round, &[run(Function::Degrees, &[i(2)]), i(12)]),
            d(114.591559026165)
        );
        assert_eq!(r13(run(Function::Radians, &[i(114)])), d(1.9896753472735));
        assert_eq!(r13(run(Function::Cosh, &[i(-7)])), d(548.317035155212));
        assert_eq!(r13(run(Function::Tanh, &[d(0.43)])), d(0.4053213086895));
    }

    #[test]
    fn greatest_least_geo_distance_and_random() {
        assert_eq!(
            run(Function::Greatest, &[i(1), Value::Null, i(7), i(3)]),
            i(7)
        );
        assert_eq!(run(Function::Least, &[i(1), d(0.5)]), d(0.5));
        assert_eq!(run(Function::Greatest, &[i(1), d(0.5)]), d(1.0));
        assert_eq!(run(Function::Least, &[Value::Null]), Value::Null);
        // GeoDistanceTest.java: Palo Alto to London, London to Cape Town, within 0.5.
        let cases = [
            ((37.4439, -122.1663, 51.5257, -0.1122), None, 8634.6528),
            ((37.4439, -122.1663, 51.5257, -0.1122), Some("MI"), 5365.66),
            ((51.5257, -0.1122, -33.9323, 18.4197), Some("KM"), 9673.4042),
            ((-33.9323, 18.4197, -33.8666, 151.1), Some("MI"), 6838.7564),
        ];
        for ((lat1, lon1, lat2, lon2), unit, want) in cases {
            let mut args = vec![d(lat1), d(lon1), d(lat2), d(lon2)];
            args.extend(unit.map(|u| Value::String(u.into())));
            let Value::Double(got) = run(Function::GeoDistance, &args) else {
                panic!()
            };
            assert!((got - want).abs() < 0.5, "{got} {want}");
        }
        assert!(super::super::call(
            Function::GeoDistance,
            &[d(90.1), d(-122.1663), d(-91.5257), d(-0.1122)]
        )
        .is_err());
        assert!(super::super::call(
            Function::GeoDistance,
            &[
                d(37.4),
                d(-122.1),
                d(51.5),
                d(-0.1),
                Value::String("Parsecs".into())
            ]
        )
        .is_err());
        for _ in 0..100 {
            let Value::Double(r) = run(Function::Random, &[]) else {
                panic!()
            };
            assert!((0.0..1.0).contains(&r));
        }
    }
}
