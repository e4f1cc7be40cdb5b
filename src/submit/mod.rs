//! Sending work to a running stack: ksqlDB statements over its REST API.

pub mod ksql;
pub mod split;
