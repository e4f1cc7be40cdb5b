//! DECIMAL(precision, scale) values as Java's BigDecimal holds them (an unscaled integer and
//! a scale), with ksqlDB's rules for the precision and scale of each operation's result.
//! An i128 holds 38 digits, ksqlDB's largest precision, so no big-integer crate is needed.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The largest precision ksqlDB allows.
pub const MAX_PRECISION: u8 = 38;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Decimal {
    pub unscaled: i128,
    pub precision: u8,
    pub scale: u8,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecimalError {
    #[error("{0:?} is not a decimal number")]
    Syntax(String),
    /// ksqlDB's DecimalUtil.ensureFit message.
    #[error("Cannot fit decimal '{value}' into DECIMAL({precision}, {scale}) without rounding. (Requires {needed_precision},{needed_scale})")]
    Fit {
        value: String,
        precision: u8,
        scale: u8,
        needed_precision: u32,
        needed_scale: u32,
    },
    #[error("decimal overflow: the result has more than {MAX_PRECISION} digits")]
    Overflow,
    #[error("division by zero")]
    DivisionByZero,
}

fn ten(power: u32) -> Option<i128> {
    10i128.checked_pow(power)
}

/// Digits of a magnitude (0 has one, as BigDecimal counts it).
fn digits(mut value: u128) -> u32 {
    let mut n = 1;
    while value >= 10 {
        value /= 10;
        n += 1;
    }
    n
}

/// `value / divisor`, rounded half away from zero (Java's HALF_UP).
fn divide_half_up(value: i128, divisor: i128) -> i128 {
    let quotient = value / divisor;
    let remainder = value % divisor;
    if remainder.unsigned_abs() * 2 >= divisor.unsigned_abs() {
        if (value < 0) != (divisor < 0) {
            quotient - 1
        } else {
            quotient + 1
        }
    } else {
        quotient
    }
}

impl Decimal {
    /// Parses a number as BigDecimal's constructor does (sign, digits, a point, an
    /// exponent); the result has the text's own precision and scale.
    pub fn parse(text: &str) -> Result<Decimal, DecimalError> {
        let bad = || DecimalError::Syntax(text.to_string());
        let trimmed = text.trim();
        let (mantissa, exponent) = match trimmed.find(['e', 'E']) {
            Some(at) => (
                &trimmed[..at],
                trimmed[at + 1..].parse::<i32>().map_err(|_| bad())?,
            ),
            None => (trimmed, 0),
        };
        let (negative, mantissa) = match mantissa.as_bytes().first() {
            Some(b'-') => (true, &mantissa[1..]),
            Some(b'+') => (false, &mantissa[1..]),
            _ => (false, mantissa),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if whole.is_empty() && fraction.is_empty()
            || !whole
                .bytes()
                .chain(fraction.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let mut unscaled: i128 = 0;
        for b in whole.bytes().chain(fraction.bytes()) {
            unscaled = unscaled
                .checked_mul(10)
                .and_then(|u| u.checked_add(i128::from(b - b'0')))
                .ok_or(DecimalError::Overflow)?;
        }
        let mut scale = fraction.len() as i32 - exponent;
        if scale < 0 {
            unscaled = unscaled
                .checked_mul(ten(scale.unsigned_abs()).ok_or(DecimalError::Overflow)?)
                .ok_or(DecimalError::Overflow)?;
            scale = 0;
        }
        let scale = u8::try_from(scale).map_err(|_| DecimalError::Overflow)?;
        if negative {
            unscaled = -unscaled;
        }
        Decimal::of(unscaled, scale)
    }

    /// A decimal of this unscaled value and scale, with the precision its digits need.
    pub fn of(unscaled: i128, scale: u8) -> Result<Decimal, DecimalError> {
        // BigDecimal's precision of 0.05 is 1; a ksqlDB type holding it needs one more digit
        // than its scale.
        let precision = digits(unscaled.unsigned_abs()).max(u32::from(scale) + 1);
        if precision > u32::from(MAX_PRECISION) {
            return Err(DecimalError::Overflow);
        }
        Ok(Decimal {
            unscaled,
            precision: precision as u8,
            scale,
        })
    }

    pub fn from_integer(value: i64) -> Decimal {
        Decimal {
            unscaled: i128::from(value),
            precision: 19,
            scale: 0,
        }
    }

    /// The digits the value needs before and after the point.
    fn needs(&self) -> (u32, u32) {
        let all = digits(self.unscaled.unsigned_abs());
        let scale = u32::from(self.scale);
        (all.saturating_sub(scale), scale)
    }

    /// The same number at `scale`, rounded HALF_UP when digits are dropped.
    pub fn rescaled(&self, scale: u8) -> Result<i128, DecimalError> {
        match scale.cmp(&self.scale) {
            Ordering::Equal => Ok(self.unscaled),
            Ordering::Greater => ten(u32::from(scale - self.scale))
                .and_then(|f| self.unscaled.checked_mul(f))
                .ok_or(DecimalError::Overflow),
            Ordering::Less => {
                Ok(ten(u32::from(self.scale - scale))
                    .map_or(0, |f| divide_half_up(self.unscaled, f)))
            }
        }
    }

    fn misfit(&self, precision: u8, scale: u8) -> DecimalError {
        let (whole, fraction) = self.needs();
        DecimalError::Fit {
            value: self.to_string(),
            precision,
            scale,
            needed_precision: whole + fraction,
            needed_scale: fraction,
        }
    }

    /// The value as a DECIMAL(precision, scale) read from data: digits after the point are
    /// added, never dropped unless they are zeros, and the whole part must fit.
    pub fn fit(&self, precision: u8, scale: u8) -> Result<Decimal, DecimalError> {
        let unscaled = self
            .rescaled(scale)
            .map_err(|_| self.misfit(precision, scale))?;
        let exact = Decimal {
            unscaled,
            precision,
            scale,
        };
        if scale < self.scale && exact.rescaled(self.scale).ok() != Some(self.unscaled) {
            return Err(self.misfit(precision, scale));
        }
        exact
            .check_precision()
            .map_err(|_| self.misfit(precision, scale))
    }

    /// The value as a DECIMAL(precision, scale) by CAST: rounded HALF_UP to the scale, and
    /// the whole part must fit.
    pub fn cast(&self, precision: u8, scale: u8) -> Result<Decimal, DecimalError> {
        let unscaled = self
            .rescaled(scale)
            .map_err(|_| self.misfit(precision, scale))?;
        Decimal {
            unscaled,
            precision,
            scale,
        }
        .check_precision()
        .map_err(|_| self.misfit(precision, scale))
    }

    fn check_precision(self) -> Result<Decimal, DecimalError> {
        // A zero whole part takes no digit: 0.12 fits DECIMAL(2, 2).
        let (whole, _) = self.needs();
        if whole > u32::from(self.precision.saturating_sub(self.scale)) {
            return Err(self.misfit(self.precision, self.scale));
        }
        Ok(self)
    }

    /// The value rounded at `places` digits after the point (before it when negative), as
    /// ksqlDB's Round.java and Trunc.java do on a BigDecimal: HALF_UP above zero, HALF_DOWN
    /// below, or towards zero when `truncate`. The unscaled value keeps this scale.
    pub fn round_places(&self, places: i32, truncate: bool) -> Decimal {
        let dropped = i32::from(self.scale) - places;
        if dropped <= 0 {
            return *self;
        }
        let Some(unit) = ten(dropped.unsigned_abs()) else {
            return Decimal {
                unscaled: 0,
                ..*self
            };
        };
        let (quotient, remainder) = (self.unscaled / unit, self.unscaled % unit);
        let twice = remainder.unsigned_abs() * 2;
        let up = !truncate
            && (twice > unit.unsigned_abs() || (twice == unit.unsigned_abs() && self.unscaled > 0));
        let rounded = if up {
            quotient + self.unscaled.signum()
        } else {
            quotient
        };
        Decimal {
            unscaled: rounded.saturating_mul(unit),
            ..*self
        }
    }

    pub fn to_f64(&self) -> f64 {
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    /// BigDecimal's intValue / longValue: the whole part, truncated.
    pub fn trunc(&self) -> i128 {
        ten(u32::from(self.scale)).map_or(0, |f| self.unscaled / f)
    }

    pub fn negate(&self) -> Decimal {
        Decimal {
            unscaled: -self.unscaled,
            ..*self
        }
    }

    fn aligned(a: &Decimal, b: &Decimal) -> Result<(i128, i128, u8), DecimalError> {
        let scale = a.scale.max(b.scale);
        Ok((a.rescaled(scale)?, b.rescaled(scale)?, scale))
    }

    pub fn compare(&self, other: &Decimal) -> Ordering {
        match Decimal::aligned(self, other) {
            Ok((a, b, _)) => a.cmp(&b),
            Err(_) => self
                .to_f64()
                .partial_cmp(&other.to_f64())
                .unwrap_or(Ordering::Equal),
        }
    }

    /// The precision and scale of `a op b` by ksqlDB's rules (DecimalUtil / the Operator
    /// type resolution), capped at 38 digits.
    pub fn result_type(op: Op, a: (u8, u8), b: (u8, u8)) -> (u8, u8) {
        let ((p1, s1), (p2, s2)) = (
            (i32::from(a.0), i32::from(a.1)),
            (i32::from(b.0), i32::from(b.1)),
        );
        let (precision, scale) = match op {
            Op::Add | Op::Subtract => {
                let scale = s1.max(s2);
                ((p1 - s1).max(p2 - s2) + scale + 1, scale)
            }
            Op::Multiply => (p1 + p2 + 1, s1 + s2),
            Op::Divide => {
                let scale = 6.max(s1 + p2 + 1);
                (p1 - s1 + s2 + scale, scale)
            }
            Op::Modulo => {
                let scale = s1.max(s2);
                ((p1 - s1).min(p2 - s2) + scale, scale)
            }
        };
        let cap = i32::from(MAX_PRECISION);
        let precision = precision.clamp(1, cap);
        (precision as u8, scale.clamp(0, precision) as u8)
    }

    pub fn apply(op: Op, a: &Decimal, b: &Decimal) -> Result<Decimal, DecimalError> {
        let (precision, scale) =
            Decimal::result_type(op, (a.precision, a.scale), (b.precision, b.scale));
        let unscaled = match op {
            Op::Add | Op::Subtract | Op::Modulo => {
                let (x, y, common) = Decimal::aligned(a, b)?;
                let exact = match op {
                    Op::Add => x.checked_add(y),
                    Op::Subtract => x.checked_sub(y),
                    _ if y == 0 => return Err(DecimalError::DivisionByZero),
                    _ => x.checked_rem(y),
                }
                .ok_or(DecimalError::Overflow)?;
                Decimal {
                    unscaled: exact,
                    precision,
                    scale: common,
                }
                .rescaled(scale)?
            }
            Op::Multiply => {
                let exact = a
                    .unscaled
                    .checked_mul(b.unscaled)
                    .ok_or(DecimalError::Overflow)?;
                Decimal {
                    unscaled: exact,
                    precision,
                    scale: a.scale + b.scale,
                }
                .rescaled(scale)?
            }
            Op::Divide => {
                if b.unscaled == 0 {
                    return Err(DecimalError::DivisionByZero);
                }
                // a / b at `scale`: a * 10^(scale - s1 + s2) / b, rounded HALF_UP.
                let shift = i32::from(scale) - i32::from(a.scale) + i32::from(b.scale);
                let (numerator, denominator) = if shift >= 0 {
                    (
                        ten(shift as u32)
                            .and_then(|f| a.unscaled.checked_mul(f))
                            .ok_or(DecimalError::Overflow)?,
                        b.unscaled,
                    )
                } else {
                    (
                        a.unscaled,
                        ten(shift.unsigned_abs())
                            .and_then(|f| b.unscaled.checked_mul(f))
                            .ok_or(DecimalError::Overflow)?,
                    )
                };
                divide_half_up(numerator, denominator)
            }
        };
        Decimal {
            unscaled,
            precision,
            scale,
        }
        .check_precision()
        .map_err(|_| DecimalError::Overflow)
    }

    /// The unscaled value as Avro's decimal logical type holds it: big-endian two's
    /// complement in the fewest bytes.
    pub fn to_be_bytes(&self) -> Vec<u8> {
        let bytes = self.unscaled.to_be_bytes();
        let sign = if self.unscaled < 0 { 0xff } else { 0 };
        let mut start = 0;
        while start < 15 && bytes[start] == sign && (bytes[start + 1] & 0x80) == (sign & 0x80) {
            start += 1;
        }
        bytes[start..].to_vec()
    }

    /// Reads big-endian two's complement bytes as an unscaled value.
    pub fn from_be_bytes(bytes: &[u8], precision: u8, scale: u8) -> Result<Decimal, DecimalError> {
        if bytes.len() > 16 {
            return Err(DecimalError::Overflow);
        }
        let sign = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
            0xff
        } else {
            0
        };
        let mut full = [sign; 16];
        full[16 - bytes.len()..].copy_from_slice(bytes);
        Decimal {
            unscaled: i128::from_be_bytes(full),
            precision,
            scale,
        }
        .check_precision()
    }
}

/// The arithmetic operators on decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
}

/// BigDecimal's toPlainString: every digit of the scale, no exponent.
impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.unscaled.unsigned_abs().to_string();
        let scale = usize::from(self.scale);
        if self.unscaled < 0 {
            f.write_str("-")?;
        }
        if scale == 0 {
            return f.write_str(&digits);
        }
        if digits.len() <= scale {
            write!(f, "0.{}{digits}", "0".repeat(scale - digits.len()))
        } else {
            let (whole, fraction) = digits.split_at(digits.len() - scale);
            write!(f, "{whole}.{fraction}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    #[test]
    fn parses_and_prints_as_bigdecimal_does() {
        for (text, plain, precision, scale) in [
            ("10.01", "10.01", 4, 2),
            ("-5.10", "-5.10", 3, 2),
            ("0.05", "0.05", 3, 2),
            ("1e3", "1000", 4, 0),
            ("1.5e-2", "0.015", 4, 3),
            ("10.1234512345123451234", "10.1234512345123451234", 21, 19),
        ] {
            let value = d(text);
            assert_eq!(value.to_string(), plain, "{text}");
            assert_eq!((value.precision, value.scale), (precision, scale), "{text}");
        }
        assert!(Decimal::parse("1.2.3").is_err());
        assert!(Decimal::parse("").is_err());
    }

    #[test]
    fn arithmetic_follows_ksqldbs_result_types() {
        let (a, b) = (d("10.10").fit(4, 2).unwrap(), d("2.00").fit(4, 2).unwrap());
        let show = |op| Decimal::apply(op, &a, &b).unwrap().to_string();
        assert_eq!(show(Op::Add), "12.10");
        assert_eq!(show(Op::Subtract), "8.10");
        assert_eq!(show(Op::Multiply), "20.2000");
        assert_eq!(show(Op::Divide), "5.0500000");
        assert_eq!(show(Op::Modulo), "0.10");
        assert_eq!(Decimal::result_type(Op::Divide, (4, 2), (4, 2)), (11, 7));
        assert_eq!(Decimal::result_type(Op::Multiply, (4, 2), (4, 2)), (9, 4));
        let zero = d("0.00");
        assert_eq!(
            Decimal::apply(Op::Divide, &a, &zero),
            Err(DecimalError::DivisionByZero)
        );
        assert_eq!(
            Decimal::apply(Op::Divide, &d("1"), &d("3"))
                .unwrap()
                .to_string(),
            "0.333333"
        );
    }

    #[test]
    fn values_fit_their_column_or_are_refused() {
        assert_eq!(d("1.5").fit(4, 2).unwrap().to_string(), "1.50");
        assert_eq!(d("1.500").fit(4, 2).unwrap().to_string(), "1.50");
        assert!(d("1.234").fit(4, 2).is_err(), "no silent rounding");
        assert!(d("123.4").fit(4, 2).is_err(), "the whole part does not fit");
        assert_eq!(d("0.12").fit(2, 2).unwrap().to_string(), "0.12");
        assert_eq!(d("1.235").cast(4, 2).unwrap().to_string(), "1.24");
        assert_eq!(d("-1.235").cast(4, 2).unwrap().to_string(), "-1.24");
        let error = d("123.4").fit(4, 2).unwrap_err().to_string();
        assert_eq!(
            error,
            "Cannot fit decimal '123.4' into DECIMAL(4, 2) without rounding. (Requires 4,1)"
        );
    }

    #[test]
    fn avro_bytes_are_minimal_twos_complement() {
        for (text, bytes) in [
            ("0.00", vec![0u8]),
            ("1.27", vec![0x7f]),
            ("1.28", vec![0x00, 0x80]),
            ("-1.28", vec![0x80]),
            ("-1.29", vec![0xff, 0x7f]),
        ] {
            let value = d(text);
            assert_eq!(value.to_be_bytes(), bytes, "{text}");
            assert_eq!(
                Decimal::from_be_bytes(&bytes, 4, 2).unwrap().unscaled,
                value.unscaled
            );
        }
    }
}
