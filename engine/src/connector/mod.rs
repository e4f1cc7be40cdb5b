//! Where records come from and go to: local files and Kafka; and the Schema Registry client
//! the AVRO format reads and registers schemas with.

pub mod file;
pub mod kafka;
pub mod schema_registry;
