//! advisor-engine: runs ksqlDB-dialect SQL over streams of records.
//!
//! The seams the later issues build on: `sql` parses and knows nothing of Kafka or HTTP;
//! `value` and `expr` evaluate rows; `format` turns bytes into rows and back behind one
//! decoder/encoder seam; `state` keeps operator state per input partition, snapshotted
//! with its offsets; `operators` run the queries; `io` moves records in and out.

pub mod expr;
pub mod sql;
pub mod value;
