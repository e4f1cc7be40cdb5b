//! Naming and typing of a query's output columns, as ksqlDB names and types them.

use crate::expr;
use crate::sql::ast::{BinaryOp, Expr, Literal, SelectItem, SqlType};
use crate::value::Schema;

pub fn infer_type(expr: &Expr, schema: &Schema) -> SqlType {
    match expr {
        Expr::Qualified { name, .. } => infer_type(&Expr::Column(name.clone()), schema),
        // Flink's OVER aggregates keep their argument's type (AVG of BIGINT is BIGINT);
        // COUNT is BIGINT.
        Expr::Over { call, .. } => match &**call {
            Expr::Function { name, args, .. } if name != "COUNT" => args
                .first()
                .map(|a| infer_type(a, schema))
                .unwrap_or(SqlType::Bigint),
            _ => SqlType::Bigint,
        },
        Expr::Column(name) => match name.as_str() {
            "ROWTIME" | "WINDOWSTART" | "WINDOWEND" => SqlType::Bigint,
            _ => schema
                .index_of(name)
                .map(|i| schema.columns[i].sql_type.clone())
                .unwrap_or(SqlType::String),
        },
        // ksqlDB types a whole-number literal that fits 32 bits as an INTEGER.
        Expr::Literal(Literal::Integer(i)) if i32::try_from(*i).is_ok() => SqlType::Int,
        Expr::Literal(Literal::Integer(_)) => SqlType::Bigint,
        Expr::Literal(Literal::Decimal(_)) => SqlType::Double,
        Expr::Literal(Literal::Boolean(_)) => SqlType::Boolean,
        Expr::Literal(_) => SqlType::String,
        Expr::Cast(_, t) => t.clone(),
        Expr::Binary(op, a, b) => match op {
            BinaryOp::Concat => SqlType::String,
            BinaryOp::Add
            | BinaryOp::Subtract
            | BinaryOp::Multiply
            | BinaryOp::Divide
            | BinaryOp::Modulo => match (infer_type(a, schema), infer_type(b, schema)) {
                (SqlType::Double, _) | (_, SqlType::Double) => SqlType::Double,
                (SqlType::String, _) => SqlType::String,
                (x @ SqlType::Decimal { .. }, y) | (x, y @ SqlType::Decimal { .. }) => {
                    // INT takes 10 digits and BIGINT 19 when it meets a DECIMAL.
                    let digits = |t: &SqlType, e: &Expr| match (t, e) {
                        (SqlType::Decimal { precision, scale }, _) => (*precision, *scale),
                        (SqlType::Int, _) => (10, 0),
                        _ => (19, 0),
                    };
                    let decimal_op = match op {
                        BinaryOp::Add => crate::decimal::Op::Add,
                        BinaryOp::Subtract => crate::decimal::Op::Subtract,
                        BinaryOp::Multiply => crate::decimal::Op::Multiply,
                        BinaryOp::Divide => crate::decimal::Op::Divide,
                        _ => crate::decimal::Op::Modulo,
                    };
                    let (precision, scale) = crate::decimal::Decimal::result_type(
                        decimal_op,
                        digits(&x, a),
                        digits(&y, b),
                    );
                    SqlType::Decimal { precision, scale }
                }
                (SqlType::Int, SqlType::Int) => SqlType::Int,
                _ => SqlType::Bigint,
            },
            _ => SqlType::Boolean,
        },
        Expr::Function { name, args, .. } => {
            let arg = || {
                args.first()
                    .map(|a| infer_type(a, schema))
                    .unwrap_or(SqlType::String)
            };
            match name.as_str() {
                "COUNT" | "COUNT_DISTINCT" => SqlType::Bigint,
                "AVG" => SqlType::Double,
                // The BY_OFFSET forms with a count n give an ARRAY.
                "LATEST_BY_OFFSET" | "EARLIEST_BY_OFFSET"
                    if matches!(args.get(1), Some(Expr::Literal(Literal::Integer(_)))) =>
                {
                    SqlType::Array(Box::new(arg()))
                }
                "SUM" | "MIN" | "MAX" | "LATEST_BY_OFFSET" | "EARLIEST_BY_OFFSET" => arg(),
                "COLLECT_LIST" | "COLLECT_SET" | "TOPK" | "TOPKDISTINCT" => {
                    SqlType::Array(Box::new(arg()))
                }
                "HISTOGRAM" => SqlType::Map(Box::new(SqlType::Bigint)),
                _ => match expr::Function::lookup(name) {
                    Some((function, _)) => function.return_type(
                        &args
                            .iter()
                            .map(|a| infer_type(a, schema))
                            .collect::<Vec<_>>(),
                    ),
                    None => SqlType::String,
                },
            }
        }
        Expr::Case {
            whens, otherwise, ..
        } => common_type(
            whens
                .iter()
                .map(|(_, then)| then)
                .chain(otherwise.as_deref()),
            schema,
        )
        .unwrap_or(SqlType::String),
        Expr::Unary(crate::sql::ast::UnaryOp::Negate, e) => infer_type(e, schema),
        Expr::Subscript(base, _) => match infer_type(base, schema) {
            SqlType::Array(inner) | SqlType::Map(inner) => *inner,
            _ => SqlType::String,
        },
        Expr::Field(base, name) => infer_type(base, schema)
            .field(name)
            .cloned()
            .unwrap_or(SqlType::String),
        Expr::MakeArray(items) => SqlType::Array(Box::new(
            common_type(items.iter(), schema).unwrap_or(SqlType::String),
        )),
        Expr::MakeMap(entries) => SqlType::Map(Box::new(
            common_type(entries.iter().map(|(_, v)| v), schema).unwrap_or(SqlType::String),
        )),
        Expr::MakeStruct(fields) => SqlType::Struct(
            fields
                .iter()
                .map(|(name, e)| (name.clone(), infer_type(e, schema)))
                .collect(),
        ),
        _ => SqlType::Boolean,
    }
}

/// Where a number type stands in ksqlDB's widening order, INT to BIGINT to DECIMAL to
/// DOUBLE; `None` for a type that is not a number.
pub(crate) fn numeric_rank(sql_type: &SqlType) -> Option<u8> {
    match sql_type {
        SqlType::Int => Some(0),
        SqlType::Bigint => Some(1),
        SqlType::Decimal { .. } => Some(2),
        SqlType::Double => Some(3),
        _ => None,
    }
}

/// The type the results of several branches take (CASE's THENs and ELSE, an array's items, a
/// map's values), as ksqlDB's CoercionUtil gives it: numbers widen to the widest among them
/// (INT, BIGINT, DECIMAL, DOUBLE, so `CASE WHEN x THEN 0 ELSE big END` is a BIGINT); NULL
/// literals take no part; anything else is the first one's type. `None` when all are NULL.
fn common_type<'a>(exprs: impl Iterator<Item = &'a Expr>, schema: &Schema) -> Option<SqlType> {
    let types: Vec<SqlType> = exprs
        .filter(|e| !matches!(e, Expr::Literal(Literal::Null)))
        .map(|e| infer_type(e, schema))
        .collect();
    let ranks: Option<Vec<u8>> = types.iter().map(numeric_rank).collect();
    match ranks.and_then(|ranks| {
        ranks
            .into_iter()
            .enumerate()
            .max_by_key(|&(i, r)| (r, std::cmp::Reverse(i)))
    }) {
        Some((widest, _)) => types.into_iter().nth(widest),
        None => types.into_iter().next(),
    }
}

/// Output column names: aliases, column names, struct field names, or KSQL_COL_n for the
/// rest, as ksqlDB does.
pub fn output_names(projection: &[(Expr, Option<String>)]) -> Vec<String> {
    let mut generated = 0;
    projection
        .iter()
        .map(|(expr, alias)| match (alias, expr) {
            (Some(alias), _) => alias.clone(),
            (None, Expr::Column(name)) => name.clone(),
            // A struct field is named after the field (`s->town` is TOWN), as ksqlDB names
            // a dereference.
            (None, Expr::Field(_, field)) => field.clone(),
            (None, _) => {
                let name = format!("KSQL_COL_{generated}");
                generated += 1;
                name
            }
        })
        .collect()
}

pub fn expand(items: &[SelectItem], schema: &Schema) -> Vec<(Expr, Option<String>)> {
    items
        .iter()
        .flat_map(|item| match item {
            // Over one source, `alias.*` is `*`; joins spell it out before planning.
            SelectItem::Wildcard | SelectItem::SourceWildcard(_) => schema
                .columns
                .iter()
                .map(|c| (Expr::Column(c.name.clone()), None))
                .collect::<Vec<_>>(),
            SelectItem::Expr { expr, alias } => vec![(expr.clone(), alias.clone())],
        })
        .collect()
}

pub fn has_aggregate(expr: &Expr) -> bool {
    match expr {
        Expr::Function { name, args, .. } => {
            expr::is_aggregate(name) || args.iter().any(has_aggregate)
        }
        Expr::Unary(_, e) | Expr::Cast(e, _) => has_aggregate(e),
        Expr::Binary(_, a, b) => has_aggregate(a) || has_aggregate(b),
        Expr::Case {
            operand,
            whens,
            otherwise,
        } => {
            operand.as_deref().is_some_and(has_aggregate)
                || whens
                    .iter()
                    .any(|(w, t)| has_aggregate(w) || has_aggregate(t))
                || otherwise.as_deref().is_some_and(has_aggregate)
        }
        Expr::IsNull { expr, .. } => has_aggregate(expr),
        Expr::Between {
            expr, low, high, ..
        } => has_aggregate(expr) || has_aggregate(low) || has_aggregate(high),
        Expr::InList { expr, list, .. } => has_aggregate(expr) || list.iter().any(has_aggregate),
        Expr::Like { expr, pattern, .. } => has_aggregate(expr) || has_aggregate(pattern),
        Expr::Subscript(a, b) => has_aggregate(a) || has_aggregate(b),
        Expr::Field(e, _) => has_aggregate(e),
        Expr::MakeArray(items) => items.iter().any(has_aggregate),
        Expr::MakeMap(entries) => entries
            .iter()
            .any(|(k, v)| has_aggregate(k) || has_aggregate(v)),
        Expr::MakeStruct(fields) => fields.iter().any(|(_, v)| has_aggregate(v)),
        // An OVER aggregate is computed per row, not by GROUP BY.
        Expr::Column(_) | Expr::Literal(_) | Expr::Qualified { .. } | Expr::Over { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::ast::Statement;
    use crate::sql::parser::parse;
    use crate::value::Column;

    fn type_of(expr_sql: &str) -> SqlType {
        let parsed = parse(&format!("SELECT {expr_sql} FROM s;")).unwrap();
        let Statement::Select(query) = &parsed[0].statement else {
            panic!("a SELECT")
        };
        let SelectItem::Expr { expr, .. } = &query.projection[0] else {
            panic!("an expression")
        };
        let column = |name: &str, sql_type| Column {
            name: name.into(),
            sql_type,
            key: false,
        };
        let schema = Schema {
            columns: vec![
                column("I", SqlType::Int),
                column("B", SqlType::Bigint),
                column("D", SqlType::Double),
            ],
        };
        infer_type(expr, &schema)
    }

    /// ksqlDB types a literal that fits 32 bits as an INTEGER, keeps INT arithmetic INT, and
    /// widens the branches of a CASE or the items of an array to the widest number.
    #[test]
    fn literals_arithmetic_and_branches_take_ksqldbs_types() {
        assert_eq!(type_of("1"), SqlType::Int);
        assert_eq!(type_of("2147483648"), SqlType::Bigint);
        assert_eq!(type_of("I + 1"), SqlType::Int);
        assert_eq!(type_of("I * B"), SqlType::Bigint);
        assert_eq!(type_of("B - 1"), SqlType::Bigint);
        assert_eq!(
            type_of("CASE WHEN I > 0 THEN 0 ELSE B END"),
            SqlType::Bigint
        );
        assert_eq!(
            type_of("CASE WHEN I > 0 THEN NULL ELSE I END"),
            SqlType::Int
        );
        assert_eq!(
            type_of("CASE WHEN I > 0 THEN I ELSE D END"),
            SqlType::Double
        );
        assert_eq!(
            type_of("CASE WHEN I > 0 THEN 'a' ELSE 'b' END"),
            SqlType::String
        );
        assert_eq!(
            type_of("ARRAY[1, B, NULL]"),
            SqlType::Array(Box::new(SqlType::Bigint))
        );
    }
}
