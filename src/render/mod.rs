//! Rendering with tera: shareable reports now, Terraform stacks later.

pub mod report;
pub mod svg;
