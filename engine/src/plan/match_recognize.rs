//! Planning MATCH_RECOGNIZE: the pattern, its DEFINE conditions and MEASURES over the rows
//! it reads, into a match_recognize operator.

use crate::ops::Operator;
use crate::plan::PlanError;
use crate::sql::ast::MatchRecognize;
use crate::value::Schema;

/// Plans `clause` over rows shaped as `input`; returns the operator and the shape of its
/// output rows (the PARTITION BY columns, then the MEASURES). `timestamp` is the source's
/// TIMESTAMP column, which ORDER BY may name in place of ROWTIME; `watermark_delay` is the
/// source's WATERMARK_DELAY. The operator follows the source's watermark as the batches
/// carry it (`RowBatch::watermark(at)` before each row, `end_watermark()` after the last,
/// computed by the query from every record, also those a WHERE drops), as
/// ops/over_window.rs does.
pub fn plan(
    _clause: &MatchRecognize,
    _input: &Schema,
    _timestamp: Option<&str>,
    _watermark_delay: i64,
) -> Result<(Box<dyn Operator>, Schema), PlanError> {
    Err(PlanError::Invalid(
        "MATCH_RECOGNIZE is not run by advisor-engine yet".into(),
    ))
}
