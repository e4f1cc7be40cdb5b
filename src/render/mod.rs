//! Rendering with tera: shareable reports and Terraform stacks.

pub mod report;
pub mod svg;
pub mod terraform;

/// An error with every cause it wraps, for messages that say what went wrong inside tera.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}
