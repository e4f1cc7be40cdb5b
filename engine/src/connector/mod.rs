//! Where records come from and go to: local files and Kafka.

pub mod file;
pub mod kafka;
