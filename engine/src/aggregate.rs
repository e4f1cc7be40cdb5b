//! Aggregate functions: what each keeps per group and window, and what it reports.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::value::Value;

/// ksqlDB caps COLLECT_LIST and COLLECT_SET at this many entries by default.
pub const COLLECT_LIMIT: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
pub enum AggKind {
    CountStar,
    Count,
    Sum,
    Min,
    Max,
    Avg,
    CountDistinct,
    LatestByOffset,
    EarliestByOffset,
    CollectList,
    CollectSet,
    TopK(usize),
}

impl AggKind {
    /// The kind for a call; `k` is TOPK's second argument.
    pub fn from_call(name: &str, star: bool, k: Option<i64>) -> Result<AggKind, String> {
        Ok(match name {
            "COUNT" if star => AggKind::CountStar,
            "COUNT" => AggKind::Count,
            "SUM" => AggKind::Sum,
            "MIN" => AggKind::Min,
            "MAX" => AggKind::Max,
            "AVG" => AggKind::Avg,
            "COUNT_DISTINCT" => AggKind::CountDistinct,
            "LATEST_BY_OFFSET" => AggKind::LatestByOffset,
            "EARLIEST_BY_OFFSET" => AggKind::EarliestByOffset,
            "COLLECT_LIST" => AggKind::CollectList,
            "COLLECT_SET" => AggKind::CollectSet,
            "TOPK" => match k {
                Some(k) if k > 0 => AggKind::TopK(k as usize),
                _ => {
                    return Err(
                        "TOPK takes a column and a whole number above zero, e.g. TOPK(x, 3)".into(),
                    )
                }
            },
            other => {
                return Err(format!(
                    "aggregate {other} is not supported by advisor-engine"
                ))
            }
        })
    }

    pub fn initial(&self) -> Acc {
        match self {
            AggKind::CountStar | AggKind::Count => Acc::Count(0),
            AggKind::Sum => Acc::SumInt(0),
            AggKind::Min | AggKind::Max | AggKind::LatestByOffset | AggKind::EarliestByOffset => {
                Acc::Empty
            }
            AggKind::Avg => Acc::Avg(Box::default()),
            AggKind::CountDistinct => Acc::Distinct(Box::default()),
            AggKind::CollectList | AggKind::CollectSet | AggKind::TopK(_) => {
                Acc::Many(Box::default())
            }
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
            (AggKind::Sum, acc @ (Acc::SumInt(_) | Acc::SumDouble(_))) => {
                *acc = match (&*acc, value) {
                    (_, Value::Null) => return,
                    (Acc::SumInt(a), Value::Integer(b)) => Acc::SumInt(a.wrapping_add(*b)),
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
            (AggKind::CollectList, Acc::Many(items)) if items.len() < COLLECT_LIMIT => {
                items.push(value.clone());
            }
            (AggKind::CollectSet, Acc::Many(items))
                if items.len() < COLLECT_LIMIT && !items.contains(value) =>
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
            (AggKind::CollectList, Acc::Many(a), Acc::Many(b)) => {
                let room = COLLECT_LIMIT.saturating_sub(a.len());
                a.extend(b.iter().take(room).cloned());
            }
            (AggKind::CollectSet, Acc::Many(a), Acc::Many(b)) => {
                for value in b.iter() {
                    if a.len() >= COLLECT_LIMIT {
                        break;
                    }
                    if !a.contains(value) {
                        a.push(value.clone());
                    }
                }
            }
            (AggKind::TopK(_), _, Acc::Many(b)) => {
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
            Acc::Avg(avg) => {
                if avg.count == 0 {
                    Value::Null
                } else {
                    Value::Double(avg.sum / avg.count as f64)
                }
            }
            Acc::Distinct(seen) => Value::Integer(seen.len() as i64),
            Acc::Many(items) => Value::Array(items.to_vec()),
        }
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
            fold(AggKind::CollectSet, &values),
            Value::Array(vec![Value::Integer(3), Value::Null, Value::Integer(5)])
        );
        assert_eq!(
            fold(AggKind::TopK(2), &values),
            Value::Array(vec![Value::Integer(5), Value::Integer(3)])
        );
        assert_eq!(fold(AggKind::Avg, &[]), Value::Null);
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
            AggKind::CollectList,
            AggKind::CollectSet,
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
}
