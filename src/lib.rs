//! advisor: decide whether and how to add stream processing to Kafka, price it, and
//! deploy it. The binary's `main` parses flags and calls [`commands::run`].

pub mod aws;
pub mod cli;
pub mod commands;
pub mod cost;
pub mod decide;
pub mod image;
pub mod money;
pub mod output;
pub mod render;
pub mod stack;
pub mod submit;
pub mod workload;
