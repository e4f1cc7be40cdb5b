//! Aggregate functions: what each keeps per group and window, and what it reports.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::decimal::{Decimal, Op};
use crate::settings::Settings;
use crate::sql::ast::Literal;
use crate::value::{Text, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum AggKind {
    CountStar,
    Count,
    Sum,
    Min,
    Max,
    Avg,
    CountDistinct,
    /// LATEST_ and EARLIEST_BY_OFFSET(col): the last or first non-null value.
    LatestByOffset,
    EarliestByOffset,
    /// LATEST_ and EARLIEST_BY_OFFSET(col, false): nulls count as values.
    LatestByOffsetWithNulls,
    EarliestByOffsetWithNulls,
    /// LATEST_ and EARLIEST_BY_OFFSET(col, n [, ignore_nulls]): an ARRAY of the last or
    /// first n values, oldest first.
    LatestN {
        n: usize,
        ignore_nulls: bool,
    },
    EarliestN {
        n: usize,
        ignore_nulls: bool,
    },
    /// COLLECT_LIST and COLLECT_SET with their limits (`Settings`).
    CollectList(usize),
    CollectSet(usize),
    TopK(usize),
    TopKDistinct(usize),
    /// HISTOGRAM(col): each distinct string and how often it occurs, as a MAP; ksqlDB's
    /// HistogramUdaf keeps at most `HISTOGRAM_LIMIT` entries.
    Histogram,
}

/// ksqlDB's HistogramUdaf.LIMIT: values beyond this many distinct ones are not counted.
pub const HISTOGRAM_LIMIT: usize = 1000;

fn by_offset(latest: bool, ignore_nulls: bool) -> AggKind {
    match (latest, ignore_nulls) {
        (true, true) => AggKind::LatestByOffset,
        (true, false) => AggKind::LatestByOffsetWithNulls,
        (false, true) => AggKind::EarliestByOffset,
        (false, false) => AggKind::EarliestByOffsetWithNulls,
    }
}

impl AggKind {
    /// The kind for a call; `constants` are the literal arguments after the first (TOPK's
    /// k, BY_OFFSET's n and ignore-nulls flag). `COUNT()` counts rows as `COUNT(*)` does.
    pub fn from_call(
        name: &str,
        star: bool,
        constants: &[Literal],
        settings: &Settings,
    ) -> Result<AggKind, String> {
        let whole = |literal: Option<&Literal>| match literal {
            Some(Literal::Integer(n)) => Some(*n),
            _ => None,
        };
        let flag = |literal: Option<&Literal>| match literal {
            Some(Literal::Boolean(b)) => Some(*b),
            _ => None,
        };
        Ok(match name {
            "COUNT" if star => AggKind::CountStar,
            "COUNT" => AggKind::Count,
            "SUM" => AggKind::Sum,
            "MIN" => AggKind::Min,
            "MAX" => AggKind::Max,
            "AVG" => AggKind::Avg,
            "COUNT_DISTINCT" => AggKind::CountDistinct,
            "LATEST_BY_OFFSET" | "EARLIEST_BY_OFFSET" => {
                let latest = name == "LATEST_BY_OFFSET";
                let which = if latest { "latestN" } else { "earliestN" };
                match constants {
                    [] => by_offset(latest, true),
                    [Literal::Boolean(ignore_nulls)] => by_offset(latest, *ignore_nulls),
                    [first, rest @ ..] if rest.len() <= 1 => {
                        let n = whole(Some(first))
                            .ok_or_else(|| format!("{name} takes a whole number n and a flag: {name}(col, n [, ignoreNulls])"))?;
                        if n < 1 {
                            return Err(format!("{which} must be 1 or greater"));
                        }
                        let ignore_nulls = match rest.first() {
                            None => true,
                            some => flag(some).ok_or_else(|| {
                                format!("{name}'s third argument is the ignoreNulls flag, TRUE or FALSE")
                            })?,
                        };
                        let n = n as usize;
                        if latest {
                            AggKind::LatestN { n, ignore_nulls }
                        } else {
                            AggKind::EarliestN { n, ignore_nulls }
                        }
                    }
                    _ => return Err(format!("{name} takes at most three arguments")),
                }
            }
            "HISTOGRAM" => AggKind::Histogram,
            "COLLECT_LIST" => AggKind::CollectList(settings.collect_list_limit),
            "COLLECT_SET" => AggKind::CollectSet(settings.collect_set_limit),
            "TOPK" | "TOPKDISTINCT" => match whole(constants.first()) {
                Some(k) if k > 0 && constants.len() == 1 => {
                    if name == "TOPK" {
                        AggKind::TopK(k as usize)
                    } else {
                        AggKind::TopKDistinct(k as usize)
                    }
                }
                _ => {
                    return Err(format!(
                        "{name} takes a column and a whole number above zero, e.g. {name}(x, 3)"
                    ))
                }
            },
            other => {
                return Err(format!(
                    "aggregate {other} is not supported by advisor-engine"
                ))
            }
        })
    }

    /// The function's name as SQL writes it.
    pub fn sql_name(&self) -> &'static str {
        match self {
            AggKind::CountStar | AggKind::Count => "COUNT",
            AggKind::Sum => "SUM",
            AggKind::Min => "MIN",
            AggKind::Max => "MAX",
            AggKind::Avg => "AVG",
            AggKind::CountDistinct => "COUNT_DISTINCT",
            AggKind::LatestByOffset
            | AggKind::LatestByOffsetWithNulls
            | AggKind::LatestN { .. } => "LATEST_BY_OFFSET",
            AggKind::EarliestByOffset
            | AggKind::EarliestByOffsetWithNulls
            | AggKind::EarliestN { .. } => "EARLIEST_BY_OFFSET",
            AggKind::CollectList(_) => "COLLECT_LIST",
            AggKind::CollectSet(_) => "COLLECT_SET",
            AggKind::TopK(_) => "TOPK",
            AggKind::TopKDistinct(_) => "TOPKDISTINCT",
            AggKind::Histogram => "HISTOGRAM",
        }
    }

    /// Whether a row's contribution can be taken back out, as a table aggregation needs when
    /// a row changes (ksqlDB's TableUdaf: COUNT, SUM, AVG, COLLECT_LIST).
    pub fn undoes(&self) -> bool {
        matches!(
            self,
            AggKind::CountStar
                | AggKind::Count
                | AggKind::Sum
                | AggKind::Avg
                | AggKind::CollectList(_)
                | AggKind::Histogram
        )
    }

    /// Takes one value's contribution back out (see `undoes`); COLLECT_LIST removes the
    /// last occurrence of the value, as ksqlDB's undo does.
    pub fn undo(&self, acc: &mut Acc, value: &Value) {
        match (self, acc) {
            (AggKind::CountStar, Acc::Count(n)) => *n -= 1,
            (AggKind::Count, Acc::Count(n)) if !value.is_null() => *n -= 1,
            (AggKind::Sum, Acc::Other(held)) => add_decimal(held, value, Op::Subtract),
            (AggKind::Sum, acc @ (Acc::SumInt(_) | Acc::SumDouble(_))) => {
                *acc = match (&*acc, value) {
                    (_, Value::Null) => return,
                    (Acc::SumInt(a), Value::Integer(b)) => Acc::SumInt(a.wrapping_sub(*b)),
                    (a, b) => Acc::SumDouble(a.sum_f64() - b.as_f64().unwrap_or(0.0)),
                }
            }
            (AggKind::Avg, Acc::Avg(avg)) => {
                if let Some(v) = value.as_f64() {
                    avg.sum -= v;
                    avg.count -= 1;
                }
            }
            (AggKind::CollectList(_), Acc::Many(items)) => {
                if let Some(at) = items.iter().rposition(|item| item == value) {
                    items.remove(at);
                }
            }
            // HistogramUdaf.undo: one fewer, and the entry goes at zero.
            (AggKind::Histogram, Acc::Other(held)) => {
                if let (Value::Map(entries), Value::String(text)) = (&mut **held, value) {
                    if let Some(at) = entries.iter().position(|(key, _)| key == text) {
                        match &mut entries[at].1 {
                            Value::Integer(n) if *n > 1 => *n -= 1,
                            _ => {
                                entries.remove(at);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }

    pub fn initial(&self) -> Acc {
        match self {
            AggKind::CountStar | AggKind::Count => Acc::Count(0),
            AggKind::Sum => Acc::SumInt(0),
            AggKind::Min
            | AggKind::Max
            | AggKind::LatestByOffset
            | AggKind::EarliestByOffset
            | AggKind::LatestByOffsetWithNulls
            | AggKind::EarliestByOffsetWithNulls => Acc::Empty,
            AggKind::Avg => Acc::Avg(Box::default()),
            AggKind::Histogram => Acc::Other(Box::new(Value::Map(Vec::new()))),
            AggKind::CountDistinct => Acc::Distinct(Box::default()),
            AggKind::CollectList(_)
            | AggKind::CollectSet(_)
            | AggKind::TopK(_)
            | AggKind::TopKDistinct(_)
            | AggKind::LatestN { .. }
            | AggKind::EarliestN { .. } => Acc::Many(Box::default()),
        }
    }

    /// Folds one input value (`Value::Null` for COUNT(*)) into the accumulator.
    #[inline]
    pub fn update(&self, acc: &mut Acc, value: &Value) {
        // The usual cases first, changed in place: they give what `update_general` gives,
        // without building a new accumulator and dropping the old one.
        match (self, &mut *acc, value) {
            (AggKind::CountStar, Acc::Count(n), _) => *n += 1,
            (AggKind::Sum, Acc::SumDouble(sum), Value::Double(d)) => *sum += d,
            (AggKind::Sum, Acc::SumInt(sum), Value::Integer(i)) => *sum = sum.wrapping_add(*i),
            (AggKind::Max, Acc::Int(held), Value::Integer(i)) => *held = (*held).max(*i),
            (AggKind::Min, Acc::Int(held), Value::Integer(i)) => *held = (*held).min(*i),
            // A NaN on either side compares as unordered and changes nothing, as there.
            (AggKind::Max, Acc::Double(held), Value::Double(d)) => {
                if *d > *held {
                    *held = *d
                }
            }
            (AggKind::Min, Acc::Double(held), Value::Double(d)) => {
                if *d < *held {
                    *held = *d
                }
            }
            _ => self.update_general(acc, value),
        }
    }

    fn update_general(&self, acc: &mut Acc, value: &Value) {
        match (self, acc) {
            (AggKind::CountStar, Acc::Count(n)) => *n += 1,
            (AggKind::Count, Acc::Count(n)) if !value.is_null() => *n += 1,
            (AggKind::Sum, Acc::Other(held)) => add_decimal(held, value, Op::Add),
            (AggKind::Sum, acc @ (Acc::SumInt(_) | Acc::SumDouble(_))) => {
                *acc = match (&*acc, value) {
                    (_, Value::Null) => return,
                    (Acc::SumInt(a), Value::Integer(b)) => Acc::SumInt(a.wrapping_add(*b)),
                    // A DECIMAL column's sum stays exact, as ksqlDB's DecimalSumKudaf keeps
                    // a BigDecimal; the first value starts it.
                    (Acc::SumInt(0), Value::Decimal(d)) => {
                        Acc::Other(Box::new(Value::Decimal(d.clone())))
                    }
                    (Acc::SumInt(a), b) => Acc::SumDouble(*a as f64 + b.as_f64().unwrap_or(0.0)),
                    (Acc::SumDouble(a), b) => Acc::SumDouble(a + b.as_f64().unwrap_or(0.0)),
                    _ => return,
                }
            }
            (AggKind::Min | AggKind::Max, acc) => {
                if value.is_null() {
                    return;
                }
                let order = match acc {
                    Acc::Int(i) => value.compare(&Value::Integer(*i)),
                    Acc::Double(d) => value.compare(&Value::Double(*d)),
                    Acc::Other(existing) => value.compare(existing),
                    _ => {
                        *acc = Acc::holding(value);
                        return;
                    }
                };
                let wanted = if *self == AggKind::Min {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                };
                if order == Some(wanted) {
                    *acc = Acc::holding(value);
                }
            }
            (AggKind::LatestByOffset, acc) if !value.is_null() => {
                *acc = Acc::holding(value);
            }
            (AggKind::EarliestByOffset, acc @ Acc::Empty) if !value.is_null() => {
                *acc = Acc::holding(value);
            }
            (AggKind::LatestByOffsetWithNulls, acc) => *acc = Acc::holding(value),
            (AggKind::EarliestByOffsetWithNulls, acc @ Acc::Empty) => *acc = Acc::holding(value),
            (AggKind::LatestN { n, ignore_nulls }, Acc::Many(items))
                if !(value.is_null() && *ignore_nulls) =>
            {
                items.push(value.clone());
                if items.len() > *n {
                    items.remove(0);
                }
            }
            (AggKind::EarliestN { n, ignore_nulls }, Acc::Many(items))
                if items.len() < *n && !(value.is_null() && *ignore_nulls) =>
            {
                items.push(value.clone());
            }
            (AggKind::Avg, Acc::Avg(avg)) => {
                if let Some(v) = value.as_f64() {
                    avg.sum += v;
                    avg.count += 1;
                }
            }
            (AggKind::CountDistinct, Acc::Distinct(seen)) if !value.is_null() => {
                let mut key = Vec::new();
                value.write_key(&mut key);
                seen.insert(key);
            }
            (AggKind::CollectList(limit), Acc::Many(items)) if items.len() < *limit => {
                items.push(value.clone())
            }
            (AggKind::CollectSet(limit), Acc::Many(items))
                if items.len() < *limit && !items.contains(value) =>
            {
                items.push(value.clone());
            }
            (AggKind::TopK(k), Acc::Many(items)) => {
                if value.is_null() {
                    return;
                }
                let at = items
                    .iter()
                    .position(|existing| value.compare(existing).is_some_and(|o| o.is_gt()))
                    .unwrap_or(items.len());
                if at < *k {
                    items.insert(at, value.clone());
                    items.truncate(*k);
                }
            }
            (AggKind::TopKDistinct(k), Acc::Many(items)) => {
                if value.is_null() || items.contains(value) {
                    return;
                }
                let at = items
                    .iter()
                    .position(|existing| value.compare(existing).is_some_and(|o| o.is_gt()))
                    .unwrap_or(items.len());
                if at < *k {
                    items.insert(at, value.clone());
                    items.truncate(*k);
                }
            }
            (AggKind::Histogram, Acc::Other(held)) => {
                if let (Value::Map(entries), Value::String(text)) = (&mut **held, value) {
                    count_into(entries, text, 1);
                }
            }
            _ => {}
        }
    }

    /// Folds the accumulator of another session into `into`, as ksqlDB's UDAF mergers do
    /// when a record bridges sessions: `into` holds the sessions merged so far (older),
    /// `other` the next one. `other_later` says whether `other`'s newest record was
    /// processed after `into`'s, `other_earlier` whether its oldest was processed before
    /// `into`'s: LATEST_ and EARLIEST_BY_OFFSET go by processing order, not by time.
    pub fn merge(&self, into: &mut Acc, other: &Acc, other_later: bool, other_earlier: bool) {
        match (self, &mut *into, other) {
            (_, _, Acc::Empty) => {}
            (AggKind::CountStar | AggKind::Count, Acc::Count(a), Acc::Count(b)) => *a += b,
            (AggKind::Sum, Acc::SumInt(a), Acc::SumInt(b)) => *a = a.wrapping_add(*b),
            (AggKind::Sum, Acc::Other(held), Acc::Other(b)) => add_decimal(held, b, Op::Add),
            (AggKind::Sum, acc @ Acc::SumInt(0), b @ Acc::Other(_)) => *acc = b.clone(),
            (AggKind::Sum, acc @ (Acc::SumInt(_) | Acc::SumDouble(_)), b) => {
                let total = acc.sum_f64() + b.sum_f64();
                *acc = Acc::SumDouble(total);
            }
            (AggKind::Min | AggKind::Max, _, b) => {
                if let Some(value) = b.one() {
                    self.update(into, &value);
                }
            }
            (AggKind::LatestByOffset, acc, b) if other_later || matches!(acc, Acc::Empty) => {
                *acc = b.clone();
            }
            (AggKind::EarliestByOffset, acc, b) if other_earlier || matches!(acc, Acc::Empty) => {
                *acc = b.clone();
            }
            (AggKind::Avg, Acc::Avg(a), Acc::Avg(b)) => {
                a.sum += b.sum;
                a.count += b.count;
            }
            (AggKind::CountDistinct, Acc::Distinct(a), Acc::Distinct(b)) => {
                a.extend(b.iter().cloned());
            }
            // Merged sessions keep the first's entries and fill up to the limit from the
            // second's, as ksqlDB's merge does.
            (AggKind::CollectList(limit), Acc::Many(a), Acc::Many(b)) => {
                let room = limit.saturating_sub(a.len());
                a.extend(b.iter().take(room).cloned());
            }
            (AggKind::CollectSet(limit), Acc::Many(a), Acc::Many(b)) => {
                for value in b.iter() {
                    if a.len() < *limit && !a.contains(value) {
                        a.push(value.clone());
                    }
                }
            }
            (AggKind::LatestByOffsetWithNulls, acc, b)
                if other_later || matches!(acc, Acc::Empty) =>
            {
                *acc = b.clone();
            }
            (AggKind::EarliestByOffsetWithNulls, acc, b)
                if other_earlier || matches!(acc, Acc::Empty) =>
            {
                *acc = b.clone();
            }
            (AggKind::LatestN { n, .. }, Acc::Many(a), Acc::Many(b)) => {
                a.extend(b.iter().cloned());
                let extra = a.len().saturating_sub(*n);
                a.drain(..extra);
            }
            (AggKind::EarliestN { n, .. }, Acc::Many(a), Acc::Many(b)) => {
                let room = n.saturating_sub(a.len());
                a.extend(b.iter().take(room).cloned());
            }
            (AggKind::Histogram, Acc::Other(a), Acc::Other(b)) => {
                if let (Value::Map(into), Value::Map(from)) = (&mut **a, &**b) {
                    for (key, count) in from {
                        if let Value::Integer(count) = count {
                            count_into(into, key, *count);
                        }
                    }
                }
            }
            (AggKind::TopK(_) | AggKind::TopKDistinct(_), _, Acc::Many(b)) => {
                for value in b.iter() {
                    self.update(into, value);
                }
            }
            _ => {}
        }
    }

    /// As `result`, written over `slot` in place.
    #[inline]
    pub fn result_into(&self, acc: &Acc, slot: &mut Value) {
        match (acc, &mut *slot) {
            (Acc::Count(n) | Acc::SumInt(n) | Acc::Int(n), Value::Integer(held)) => *held = *n,
            (Acc::SumDouble(d) | Acc::Double(d), Value::Double(held)) => *held = *d,
            (Acc::Count(n) | Acc::SumInt(n) | Acc::Int(n), _) => *slot = Value::Integer(*n),
            (Acc::SumDouble(d) | Acc::Double(d), _) => *slot = Value::Double(*d),
            _ => *slot = self.result(acc),
        }
    }

    pub fn result(&self, acc: &Acc) -> Value {
        match acc {
            Acc::Count(n) | Acc::SumInt(n) => Value::Integer(*n),
            Acc::SumDouble(total) => Value::Double(*total),
            Acc::Empty | Acc::Int(_) | Acc::Double(_) | Acc::Other(_) => {
                acc.one().unwrap_or(Value::Null)
            }
            // ksqlDB's AVG of no values is 0.0 (AverageUdaf.map).
            Acc::Avg(avg) => {
                if avg.count == 0 {
                    Value::Double(0.0)
                } else {
                    Value::Double(avg.sum / avg.count as f64)
                }
            }
            Acc::Distinct(seen) => Value::Integer(seen.len() as i64),
            Acc::Many(items) => Value::Array(items.to_vec()),
        }
    }
}

/// Adds `count` to a histogram's entry for `key`, as HistogramUdaf's aggregate and merge do:
/// a new key is only taken while the histogram has fewer than `HISTOGRAM_LIMIT` entries.
/// A null value is not counted (a MAP's keys are never null here).
fn count_into(entries: &mut Vec<(Text, Value)>, key: &Text, count: i64) {
    match entries.iter().position(|(held, _)| held == key) {
        Some(at) => {
            if let Value::Integer(n) = &mut entries[at].1 {
                *n += count;
            }
        }
        None if entries.len() < HISTOGRAM_LIMIT => {
            entries.push((key.clone(), Value::Integer(count)))
        }
        None => {}
    }
}

/// What one aggregate keeps for one group and window. Kept to 16 bytes, numbers inline and
/// anything larger boxed: a million open windows hold one of these per aggregate.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub enum Acc {
    Count(i64),
    SumInt(i64),
    SumDouble(f64),
    /// MIN, MAX, LATEST_BY_OFFSET, EARLIEST_BY_OFFSET before any value.
    #[default]
    Empty,
    /// The value MIN, MAX, LATEST_ or EARLIEST_BY_OFFSET holds.
    Int(i64),
    Double(f64),
    Other(Box<Value>),
    Avg(Box<Average>),
    Distinct(Box<BTreeSet<Vec<u8>>>),
    Many(Box<Vec<Value>>),
}

/// Adds (or takes away) a DECIMAL to a decimal SUM's total. A total past the 38 digits a
/// decimal holds becomes NULL and stays so: no column type could hold it, and a total that
/// skipped a value would be wrong from then on.
fn add_decimal(total: &mut Value, value: &Value, op: Op) {
    if let (Value::Decimal(sum), Value::Decimal(d)) = (&mut *total, value) {
        match Decimal::apply(op, sum, d) {
            Ok(next) => **sum = next,
            Err(error) => {
                tracing::warn!(%error, "a DECIMAL SUM passed 38 digits; it is NULL from now on");
                *total = Value::Null;
            }
        }
    }
}

/// AVG's running sum and count, boxed so that every other accumulator stays 16 bytes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Average {
    sum: f64,
    count: i64,
}

impl Acc {
    fn holding(value: &Value) -> Acc {
        match value {
            Value::Integer(i) => Acc::Int(*i),
            Value::Double(d) => Acc::Double(*d),
            other => Acc::Other(Box::new(other.clone())),
        }
    }

    /// A SUM's running total as a double.
    fn sum_f64(&self) -> f64 {
        match self {
            Acc::SumInt(i) => *i as f64,
            Acc::SumDouble(d) => *d,
            _ => 0.0,
        }
    }

    /// The single value a MIN, MAX or *_BY_OFFSET holds.
    fn one(&self) -> Option<Value> {
        match self {
            Acc::Int(i) => Some(Value::Integer(*i)),
            Acc::Double(d) => Some(Value::Double(*d)),
            Acc::Other(value) => Some((**value).clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HISTOGRAM counts each string, takes a row back out as HistogramUdaf.undo does (the
    /// entry goes at zero) and merges sessions by adding counts.
    #[test]
    fn histogram_counts_undoes_and_merges_as_ksqldb() {
        let text = |s: &str| Value::String(s.into());
        let counts = |entries: &[(&str, i64)]| {
            Value::Map(
                entries
                    .iter()
                    .map(|(k, n)| (Text::from(*k), Value::Integer(*n)))
                    .collect(),
            )
        };
        let kind = AggKind::from_call("HISTOGRAM", false, &[], &Settings::default()).unwrap();
        let mut acc = kind.initial();
        for value in [text("baz"), Value::Null, text("foo"), text("baz")] {
            kind.update(&mut acc, &value);
        }
        assert_eq!(kind.result(&acc), counts(&[("baz", 2), ("foo", 1)]));
        assert!(kind.undoes());
        kind.undo(&mut acc, &text("foo"));
        kind.undo(&mut acc, &text("baz"));
        assert_eq!(kind.result(&acc), counts(&[("baz", 1)]));
        let mut other = kind.initial();
        kind.update(&mut other, &text("baz"));
        kind.update(&mut other, &text("qux"));
        kind.merge(&mut acc, &other, true, false);
        assert_eq!(kind.result(&acc), counts(&[("baz", 2), ("qux", 1)]));
        // Past the limit a new string is not counted; one already held still is.
        let mut full = kind.initial();
        for n in 0..HISTOGRAM_LIMIT {
            kind.update(&mut full, &text(&n.to_string()));
        }
        kind.update(&mut full, &text("new"));
        kind.update(&mut full, &text("0"));
        let Value::Map(entries) = kind.result(&full) else {
            panic!("HISTOGRAM gives a MAP")
        };
        assert_eq!(entries.len(), HISTOGRAM_LIMIT);
        assert_eq!(entries[0], (Text::from("0"), Value::Integer(2)));
    }

    #[test]
    fn an_accumulator_takes_16_bytes() {
        assert!(std::mem::size_of::<Acc>() <= 16);
    }

    fn fold(kind: AggKind, values: &[Value]) -> Value {
        let mut acc = kind.initial();
        for v in values {
            kind.update(&mut acc, v);
        }
        let mut slot = Value::String("stale".into());
        kind.result_into(&acc, &mut slot);
        assert_eq!(slot, kind.result(&acc), "{kind:?}");
        kind.result(&acc)
    }

    /// SUM of a DECIMAL is exact (ksqlDB's DecimalSumKudaf adds BigDecimals): 0.1 ten times
    /// is 1.0, which a double sum misses; undoing and merging stay exact too.
    #[test]
    fn a_decimal_sum_stays_exact() {
        let dec = |text: &str| Value::Decimal(Box::new(Decimal::parse(text).unwrap()));
        let tenths = vec![dec("0.10"); 10];
        let Value::Decimal(total) = fold(AggKind::Sum, &tenths) else {
            panic!("a decimal sum is a decimal")
        };
        assert_eq!(total.to_string(), "1.00");
        let mut acc = AggKind::Sum.initial();
        AggKind::Sum.update(&mut acc, &dec("2.50"));
        AggKind::Sum.update(&mut acc, &Value::Null);
        AggKind::Sum.update(&mut acc, &dec("0.25"));
        AggKind::Sum.undo(&mut acc, &dec("2.50"));
        assert_eq!(AggKind::Sum.result(&acc).to_string(), "0.25");
        let mut merged = AggKind::Sum.initial();
        AggKind::Sum.merge(&mut merged, &acc, true, false);
        AggKind::Sum.merge(&mut merged, &acc, true, false);
        assert_eq!(AggKind::Sum.result(&merged).to_string(), "0.50");
    }

    #[test]
    fn aggregates_follow_ksqldb() {
        let values = [
            Value::Integer(3),
            Value::Null,
            Value::Integer(5),
            Value::Integer(3),
        ];
        assert_eq!(fold(AggKind::CountStar, &values), Value::Integer(4));
        assert_eq!(fold(AggKind::Count, &values), Value::Integer(3));
        assert_eq!(fold(AggKind::Sum, &values), Value::Integer(11));
        assert_eq!(
            fold(AggKind::Sum, &[Value::Double(1.5), Value::Integer(2)]),
            Value::Double(3.5)
        );
        assert_eq!(fold(AggKind::Min, &values), Value::Integer(3));
        assert_eq!(fold(AggKind::Max, &values), Value::Integer(5));
        assert_eq!(fold(AggKind::Avg, &values), Value::Double(11.0 / 3.0));
        assert_eq!(fold(AggKind::CountDistinct, &values), Value::Integer(2));
        assert_eq!(fold(AggKind::LatestByOffset, &values), Value::Integer(3));
        assert_eq!(fold(AggKind::EarliestByOffset, &values), Value::Integer(3));
        assert_eq!(
            fold(AggKind::CollectSet(usize::MAX), &values),
            Value::Array(vec![Value::Integer(3), Value::Null, Value::Integer(5)])
        );
        assert_eq!(
            fold(AggKind::TopK(2), &values),
            Value::Array(vec![Value::Integer(5), Value::Integer(3)])
        );
        assert_eq!(
            fold(AggKind::Avg, &[]),
            Value::Double(0.0),
            "ksqlDB's AVG of nothing"
        );
    }

    /// The in-place cases of `update` against the general path they stand in for.
    #[test]
    fn the_quick_updates_agree_with_the_general_ones() {
        let values = [
            Value::Integer(7),
            Value::Double(2.5),
            Value::Integer(-3),
            Value::Null,
            Value::Double(f64::NAN),
            Value::Double(9.0),
            Value::Integer(i64::MAX),
            Value::Integer(1),
            Value::Double(-0.5),
        ];
        let kinds = [
            AggKind::CountStar,
            AggKind::Count,
            AggKind::Sum,
            AggKind::Min,
            AggKind::Max,
            AggKind::Avg,
        ];
        // Every run of the values from each start, so each accumulator meets each value kind.
        for kind in &kinds {
            for start in 0..values.len() {
                let (mut quick, mut general) = (kind.initial(), kind.initial());
                for value in values.iter().cycle().skip(start).take(2 * values.len()) {
                    kind.update(&mut quick, value);
                    kind.update_general(&mut general, value);
                    // Compared as printed, where NaN equals NaN and each double is exact.
                    let (a, b) = (format!("{quick:?}"), format!("{general:?}"));
                    assert_eq!(a, b, "{kind:?} from {start}");
                }
            }
        }
    }

    /// Merging the accumulators of two runs gives what one run over both gives (for the
    /// order-insensitive aggregates; COLLECT_LIST concatenates in run order).
    #[test]
    fn merging_two_runs_gives_one_run_over_both() {
        let first = [
            Value::Integer(4),
            Value::Null,
            Value::Double(1.5),
            Value::Integer(9),
        ];
        let second = [Value::Integer(2), Value::Integer(9), Value::Null];
        let kinds = [
            AggKind::CountStar,
            AggKind::Count,
            AggKind::Sum,
            AggKind::Min,
            AggKind::Max,
            AggKind::Avg,
            AggKind::CountDistinct,
            AggKind::CollectList(usize::MAX),
            AggKind::CollectSet(usize::MAX),
            AggKind::TopK(3),
            AggKind::LatestByOffset,
            AggKind::EarliestByOffset,
        ];
        for kind in &kinds {
            let run = |values: &[Value]| {
                let mut acc = kind.initial();
                for v in values {
                    kind.update(&mut acc, v);
                }
                acc
            };
            let mut merged = run(&first);
            kind.merge(&mut merged, &run(&second), true, false);
            let both: Vec<Value> = first.iter().chain(&second).cloned().collect();
            assert_eq!(kind.result(&merged), kind.result(&run(&both)), "{kind:?}");
        }
        // Processing order decides LATEST_ and EARLIEST_BY_OFFSET, not the order of merging.
        let mut older = AggKind::LatestByOffset.initial();
        AggKind::LatestByOffset.update(&mut older, &Value::Integer(1));
        let mut newer = AggKind::LatestByOffset.initial();
        AggKind::LatestByOffset.update(&mut newer, &Value::Integer(2));
        AggKind::LatestByOffset.merge(&mut newer, &older, false, true);
        assert_eq!(AggKind::LatestByOffset.result(&newer), Value::Integer(2));
        AggKind::EarliestByOffset.merge(&mut older, &newer, false, false);
        assert_eq!(AggKind::EarliestByOffset.result(&older), Value::Integer(1));
    }

    /// Each update's result, as a table's successive rows show it.
    fn results(kind: AggKind, values: &[Value]) -> Vec<Value> {
        let mut acc = kind.initial();
        values
            .iter()
            .map(|v| {
                kind.update(&mut acc, v);
                kind.result(&acc)
            })
            .collect()
    }

    fn array(items: &[Value]) -> Value {
        Value::Array(items.to_vec())
    }

    /// ksqlDB's query-validation tests latest-offset-udaf.json, earliest-offset-udaf.json,
    /// topk-group-by.json and topk-distinct.json (engine/docs/ksqldb-tables.md, 5.1 and 5.2).
    #[test]
    fn by_offset_and_topk_forms_give_ksqldbs_rows() {
        use Value::{Integer as I, Null};
        let call = |name: &str, constants: &[Literal]| {
            AggKind::from_call(name, false, constants, &Settings::default()).unwrap()
        };
        let nulls = [I(12), Null, I(13)];
        assert_eq!(
            results(
                call(
                    "LATEST_BY_OFFSET",
                    &[Literal::Integer(2), Literal::Boolean(true)]
                ),
                &nulls
            ),
            [array(&[I(12)]), array(&[I(12)]), array(&[I(12), I(13)])]
        );
        assert_eq!(
            results(call("LATEST_BY_OFFSET", &[Literal::Boolean(false)]), &nulls),
            [I(12), Null, I(13)]
        );
        assert_eq!(
            results(
                call(
                    "LATEST_BY_OFFSET",
                    &[Literal::Integer(2), Literal::Boolean(false)]
                ),
                &nulls
            ),
            [
                array(&[I(12)]),
                array(&[I(12), Null]),
                array(&[Null, I(13)])
            ]
        );
        assert_eq!(
            results(
                call("LATEST_BY_OFFSET", &[Literal::Integer(2)]),
                &[Null, Null]
            ),
            [array(&[]), array(&[])]
        );
        assert_eq!(
            results(
                call("EARLIEST_BY_OFFSET", &[Literal::Boolean(false)]),
                &[Null, I(13)]
            ),
            [Null, Null]
        );
        assert_eq!(
            results(
                call("EARLIEST_BY_OFFSET", &[Literal::Integer(2)]),
                &[Null, I(13)]
            ),
            [array(&[]), array(&[I(13)])]
        );
        assert_eq!(
            results(
                call(
                    "EARLIEST_BY_OFFSET",
                    &[Literal::Integer(2), Literal::Boolean(false)]
                ),
                &nulls
            ),
            [
                array(&[I(12)]),
                array(&[I(12), Null]),
                array(&[I(12), Null])
            ]
        );
        let topk_values = [I(0), I(100), I(99), I(7), I(100)];
        assert_eq!(
            results(call("TOPK", &[Literal::Integer(3)]), &topk_values),
            [
                array(&[I(0)]),
                array(&[I(100), I(0)]),
                array(&[I(100), I(99), I(0)]),
                array(&[I(100), I(99), I(7)]),
                array(&[I(100), I(100), I(99)]),
            ]
        );
        assert_eq!(
            results(call("TOPKDISTINCT", &[Literal::Integer(3)]), &topk_values)[4],
            array(&[I(100), I(99), I(7)])
        );
        for bad in [&[Literal::Integer(0)][..], &[Literal::Integer(-1)]] {
            let error = AggKind::from_call("LATEST_BY_OFFSET", false, bad, &Settings::default())
                .unwrap_err();
            assert_eq!(error, "latestN must be 1 or greater");
        }
    }

    /// Undo takes a row back out of COUNT, SUM, AVG and COLLECT_LIST (the last occurrence),
    /// as ksqlDB's table aggregation does when a row changes.
    #[test]
    fn undo_takes_a_value_back_out() {
        use Value::Integer as I;
        for kind in [
            AggKind::CountStar,
            AggKind::Count,
            AggKind::Sum,
            AggKind::Avg,
        ] {
            let mut acc = kind.initial();
            for v in [I(4), I(6)] {
                kind.update(&mut acc, &v);
            }
            kind.undo(&mut acc, &I(6));
            let mut only = kind.initial();
            kind.update(&mut only, &I(4));
            assert_eq!(kind.result(&acc), kind.result(&only), "{kind:?}");
            kind.undo(&mut acc, &I(4));
            assert_eq!(
                kind.result(&acc),
                kind.result(&kind.initial()),
                "{kind:?} back to empty"
            );
        }
        let mut list = AggKind::CollectList(usize::MAX).initial();
        for v in ["x", "y", "x"] {
            AggKind::CollectList(usize::MAX).update(&mut list, &Value::String(v.into()));
        }
        AggKind::CollectList(usize::MAX).undo(&mut list, &Value::String("x".into()));
        assert_eq!(
            AggKind::CollectList(usize::MAX).result(&list),
            array(&[Value::String("x".into()), Value::String("y".into())])
        );
        assert!(!AggKind::Min.undoes() && AggKind::Sum.undoes());
    }

    /// ksql.functions.collect_list.limit and collect_set.limit: values past the limit are
    /// ignored, a merge (sessions) keeps the first run's entries and fills up from the
    /// second's, and undoing a value that was never kept changes nothing (CollectListUdaf).
    #[test]
    fn collect_limits_ignore_values_past_them() {
        let mut settings = Settings::default();
        settings
            .set("ksql.functions.collect_list.limit", "3")
            .unwrap();
        settings
            .set("ksql.functions.collect_set.limit", "2")
            .unwrap();
        let list = AggKind::from_call("COLLECT_LIST", false, &[], &settings).unwrap();
        let set = AggKind::from_call("COLLECT_SET", false, &[], &settings).unwrap();
        let ints =
            |values: &[i64]| -> Vec<Value> { values.iter().map(|v| Value::Integer(*v)).collect() };
        assert_eq!(
            results(list.clone(), &ints(&[1, 2, 3, 4, 5]))[4],
            array(&ints(&[1, 2, 3]))
        );
        assert_eq!(
            results(set.clone(), &ints(&[1, 1, 2, 3]))[3],
            array(&ints(&[1, 2]))
        );

        let run = |kind: &AggKind, values: &[i64]| {
            let mut acc = kind.initial();
            for value in ints(values) {
                kind.update(&mut acc, &value);
            }
            acc
        };
        let mut first = run(&list, &[1, 2]);
        list.merge(&mut first, &run(&list, &[7, 8, 9]), true, false);
        assert_eq!(list.result(&first), array(&ints(&[1, 2, 7])));
        let mut first = run(&set, &[1]);
        set.merge(&mut first, &run(&set, &[1, 7, 8]), true, false);
        assert_eq!(set.result(&first), array(&ints(&[1, 7])));

        let mut full = run(&list, &[1, 2, 3, 4]);
        list.undo(&mut full, &Value::Integer(4));
        assert_eq!(list.result(&full), array(&ints(&[1, 2, 3])));
    }
}
