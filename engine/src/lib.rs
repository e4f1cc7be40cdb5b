//! advisor-engine: runs ksqlDB-dialect SQL over streams of records.
//!
//! The seams: `sql` parses and knows nothing of Kafka or HTTP; `catalog` holds streams and
//! tables; `plan` turns a statement into a chain of `ops` (each operator behind one
//! interface, with its state split by key group in `state`); `query` runs one query's
//! chain over decoded records (`format`); `runtime` is the one drive loop that files,
//! Kafka (`connector`) and the REST server (`rest`) share; `checkpoint` saves state between
//! runs. Those four are the `runtime` feature (on by default); without it the crate is the
//! parser, planner and operators.

pub mod aggregate;
pub mod catalog;
pub mod cause;
#[cfg(feature = "runtime")]
pub mod checkpoint;
#[cfg(feature = "runtime")]
pub mod connector;
pub mod datetime;
pub mod decimal;
pub mod engine;
pub mod exchange;
pub mod expr;
pub mod format;
pub mod functions;
pub mod heap;
pub mod ops;
pub mod plan;
pub mod processing_log;
pub mod query;
#[cfg(feature = "runtime")]
pub mod rest;
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod settings;
pub mod sql;
pub mod state;
pub mod value;
