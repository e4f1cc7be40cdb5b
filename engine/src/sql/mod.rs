//! ksqlDB's SQL dialect: tokens, syntax tree, parser. Knows nothing of Kafka or HTTP.

pub mod ast;
pub mod lexer;
pub mod parser;

pub use parser::{parse, ParseError};
