//! Sending work to a running stack: ksqlDB statements, Flink jars and Flink SQL over REST.

pub mod check;
pub mod flink;
pub mod ksql;
pub mod split;
