//! Money amounts as the estimates show them.

use serde::Serialize;

/// A monthly cost in US dollars: a single figure when `low == high`, a range otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CostRange {
    pub low_usd: f64,
    pub high_usd: f64,
}

impl CostRange {
    pub fn exact(usd: f64) -> Self {
        CostRange {
            low_usd: usd,
            high_usd: usd,
        }
    }

    pub fn range(low_usd: f64, high_usd: f64) -> Self {
        CostRange { low_usd, high_usd }
    }

    pub fn is_exact(&self) -> bool {
        round_cents(self.low_usd) == round_cents(self.high_usd)
    }
}

impl std::ops::Add for CostRange {
    type Output = CostRange;

    fn add(self, other: CostRange) -> CostRange {
        CostRange {
            low_usd: self.low_usd + other.low_usd,
            high_usd: self.high_usd + other.high_usd,
        }
    }
}

impl std::ops::Sub for CostRange {
    type Output = CostRange;

    fn sub(self, other: CostRange) -> CostRange {
        CostRange {
            low_usd: self.low_usd - other.low_usd,
            high_usd: self.high_usd - other.high_usd,
        }
    }
}

pub fn round_cents(usd: f64) -> f64 {
    (usd * 100.0).round() / 100.0
}

/// `$1,234.56`, with a minus sign before the dollar for negatives.
pub fn usd(amount: f64) -> String {
    let cents = (amount * 100.0).round() as i64;
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}${}.{:02}", grouped(cents / 100), cents % 100)
}

/// A whole number with its thousands grouped: `1,234,567`.
pub fn grouped(whole: u64) -> String {
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

impl std::fmt::Display for CostRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_exact() {
            f.write_str(&usd(self.low_usd))
        } else {
            write!(f, "{} - {}", usd(self.low_usd), usd(self.high_usd))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dollars_with_grouping_and_cents() {
        assert_eq!(usd(36.0352), "$36.04");
        assert_eq!(usd(1234.5), "$1,234.50");
        assert_eq!(usd(-5.0), "-$5.00");
        assert_eq!(usd(1_000_000.0), "$1,000,000.00");
        assert_eq!(
            CostRange::range(165.0, 285.0).to_string(),
            "$165.00 - $285.00"
        );
    }
}
