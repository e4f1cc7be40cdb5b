//! advisor-engine: runs ksqlDB-dialect SQL over streams of records.
//!
//! The seams the later issues build on: `sql` parses and knows nothing of Kafka or HTTP;
//! `value` and `expr` evaluate rows; `format` turns bytes into rows and back behind one
//! decoder/encoder seam; `state` keeps operator state per input partition, snapshotted
//! with its offsets; `query` runs the persistent queries; `engine` holds the catalog;
//! `files` moves records in and out of local files (Kafka comes beside it).

pub mod aggregate;
pub mod datetime;
pub mod engine;
pub mod expr;
pub mod files;
pub mod format;
pub mod kafka;
pub mod query;
pub mod rest;
pub mod sql;
pub mod state;
pub mod value;
