//! The engine's container image: built through the docker CLI from engine/Dockerfile,
//! pushed to ECR (repository created and logged in to through the SDK) or to any other
//! registry, and listed from either.

pub mod build;
pub mod docker;
pub mod push;

use std::path::PathBuf;

use crate::aws::error::AwsError;

pub use build::{build, Base, BuildOptions, BuiltImage};
pub use push::{list, push, ImageRow, PushOptions, Pushed, Repository};

/// The image's name before a registry is in front of it, and its ECR repository's name.
pub const IMAGE_NAME: &str = "advisor-engine";

/// How many images the ECR repository's lifecycle policy keeps, unless told otherwise.
pub const KEEP_IMAGES: u32 = 10;

/// `advisor-engine:<advisor's version>`, the tag `advisor image build` gives by default and
/// the one the engine flavor's task definition names.
pub fn default_tag() -> String {
    format!("{IMAGE_NAME}:{}", env!("CARGO_PKG_VERSION"))
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot run docker ({0}): install Docker, or put its CLI on PATH")]
    DockerMissing(std::io::Error),
    #[error("no Docker daemon answers: {detail}. Start it (e.g. systemctl start docker), or point DOCKER_HOST at one")]
    NoDaemon { detail: String },
    #[error("this user may not use the Docker daemon: {detail}. Add the user to the docker group, or run as root")]
    DockerPermission { detail: String },
    #[error("the registry {registry} cannot be reached: {detail}. Check that it runs and that the repository's address is right")]
    RegistryUnreachable { registry: String, detail: String },
    #[error("the registry {registry} denied the request: {detail}. Log in to it (docker login), or check the repository's permissions")]
    RegistryDenied { registry: String, detail: String },
    #[error("the registry {registry} refused the tag: {detail}")]
    TagRefused { registry: String, detail: String },
    #[error("tag {tag} already exists in {repository}, whose tags are immutable: push under a new --tag")]
    TagImmutable { repository: String, tag: String },
    #[error("docker {command} failed: {detail}")]
    Docker { command: String, detail: String },
    #[error("--base debian builds the engine from source in a multi-stage build, which needs BuildKit (the docker buildx plugin); this Docker has only the legacy builder, so use --base scratch")]
    BuildKitMissing,
    #[error("{0}")]
    Source(String),
    #[error("cannot build the static engine binary: {0}")]
    Cargo(String),
    #[error("{path} is not a static binary (it names a dynamic loader), so it cannot run in a scratch image: build it with RUSTFLAGS='-C target-feature=+crt-static' --target x86_64-unknown-linux-gnu")]
    NotStatic { path: PathBuf },
    #[error("{0:?} is not a repository: give HOST[:PORT]/NAME, e.g. 123456789012.dkr.ecr.eu-west-2.amazonaws.com/advisor-engine or 127.0.0.1:5000/advisor-engine (the tag goes in --tag)")]
    BadRepository(String),
    #[error("cannot read the registry {registry}: {detail}")]
    Http { registry: String, detail: String },
    #[error("cannot {doing}: {source}")]
    Io {
        doing: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Aws(#[from] AwsError),
}
