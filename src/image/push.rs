//! `advisor image push` and `advisor image list`: ECR through the SDK (the repository is
//! created when missing, logged in to with GetAuthorizationToken), any other registry as
//! docker and the registry HTTP API v2 reach it.

use std::str::FromStr;

use base64::Engine as _;
use serde::Serialize;

use super::docker::Docker;
use super::ImageError;
use crate::aws::clients::Clients;
use crate::aws::error::{classify, code_of};

/// Where an image goes: `HOST[:PORT]/NAME`, an ECR repository when the host is ECR's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// HOST[:PORT], as docker names the registry.
    pub registry: String,
    /// The repository's path in the registry, e.g. advisor-engine or team/advisor-engine.
    pub name: String,
    pub ecr: Option<Ecr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ecr {
    pub account: String,
    pub region: String,
}

impl Repository {
    pub fn uri(&self) -> String {
        format!("{}/{}", self.registry, self.name)
    }
}

impl FromStr for Repository {
    type Err = ImageError;

    fn from_str(text: &str) -> Result<Repository, ImageError> {
        let bad = || ImageError::BadRepository(text.to_string());
        let trimmed = text
            .trim()
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let (registry, name) = trimmed.split_once('/').ok_or_else(bad)?;
        let name_ok = !name.is_empty()
            && name.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            });
        // The registry part of a docker reference has a dot or a port, or is localhost.
        let registry_ok = !registry.is_empty()
            && (registry.contains('.') || registry.contains(':') || registry == "localhost");
        if !name_ok || !registry_ok {
            return Err(bad());
        }
        Ok(Repository {
            registry: registry.to_string(),
            name: name.to_string(),
            ecr: ecr_host(registry),
        })
    }
}

/// `<account>.dkr.ecr.<region>.amazonaws.com[.cn]`.
fn ecr_host(host: &str) -> Option<Ecr> {
    let rest = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    let mut parts = rest.split('.');
    let account = parts.next()?;
    let (dkr, ecr, region) = (parts.next()?, parts.next()?, parts.next()?);
    let ok = account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && dkr == "dkr"
        && ecr == "ecr"
        && parts.next().is_none();
    ok.then(|| Ecr {
        account: account.to_string(),
        region: region.to_string(),
    })
}

pub struct PushOptions {
    /// The local image, e.g. advisor-engine:0.1.0.
    pub image: String,
    pub repository: Repository,
    /// The tag in the repository [default: the local image's tag].
    pub tag: Option<String>,
    /// ECR: how many images the lifecycle policy keeps.
    pub keep_images: u32,
    pub profile: Option<String>,
    /// An immutable ECR tag that exists already: reuse its image (for tags named after the
    /// image's content) instead of refusing.
    pub reuse_existing_tag: bool,
}

/// What a push did.
#[derive(Debug, Serialize)]
pub struct Pushed {
    pub repository: String,
    pub tag: String,
    /// The manifest digest the registry answered with (sha256:...).
    pub digest: String,
    /// `repository@digest`: the exact image, for a task definition.
    pub reference: String,
    /// ECR only: whether this push created the repository.
    pub repository_created: bool,
    pub ecr: Option<EcrSettings>,
}

/// The ECR repository's settings as advisor leaves them.
#[derive(Debug, Serialize)]
pub struct EcrSettings {
    pub scan_on_push: bool,
    pub immutable_tags: bool,
    /// The lifecycle policy expires images beyond this many.
    pub keep_images: u32,
}

/// The tag part of `name:tag` (a port colon before the last slash is not one).
fn tag_of(image: &str) -> Option<&str> {
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, tag)| tag)
}

/// Pushes the local image to the repository; each line docker prints goes to `progress`.
pub fn push(
    options: &PushOptions,
    runtime: &tokio::runtime::Runtime,
    progress: &mut dyn FnMut(&str),
) -> Result<Pushed, ImageError> {
    let tag = options
        .tag
        .clone()
        .or_else(|| tag_of(&options.image).map(str::to_string))
        .unwrap_or_else(|| "latest".to_string());
    let repository = &options.repository;
    // The image must exist before anything is created for it.
    Docker::new(["image", "inspect", "--format", "{{.Id}}", &options.image]).run(&mut |_| {})?;
    let mut created = false;
    let mut settings = None;
    if let Some(ecr) = &repository.ecr {
        let clients = runtime.block_on(Clients::load(options.profile.as_deref(), &ecr.region));
        let prepared = runtime.block_on(prepare_ecr(
            &clients.ecr,
            repository,
            &tag,
            options.keep_images,
        ))?;
        created = prepared.created;
        settings = Some(EcrSettings {
            scan_on_push: true,
            immutable_tags: prepared.immutable,
            keep_images: options.keep_images,
        });
        match prepared.existing_digest {
            Some(digest) if options.reuse_existing_tag => {
                progress(&format!("{} holds tag {tag} already", repository.uri()));
                return Ok(Pushed::new(repository, tag, digest, created, settings));
            }
            Some(_) => {
                return Err(ImageError::TagImmutable {
                    repository: repository.uri(),
                    tag,
                })
            }
            None => {}
        }
        progress(&format!("logging in to {}", prepared.endpoint));
        Docker::new([
            "login",
            "--username",
            &prepared.user,
            "--password-stdin",
            &prepared.endpoint,
        ])
        .stdin(&prepared.password)
        .registry(&repository.registry)
        .run(progress)?;
    }
    let target = format!("{}:{tag}", repository.uri());
    Docker::new(["tag", &options.image, &target]).run(progress)?;
    let output = Docker::new(["push", &target])
        .registry(&repository.registry)
        .run(progress)?;
    let digest = output
        .split_whitespace()
        .find(|word| word.starts_with("sha256:"))
        .map(str::to_string)
        .ok_or_else(|| ImageError::Docker {
            command: "push".into(),
            detail: format!("it printed no digest for {target}"),
        })?;
    Ok(Pushed::new(repository, tag, digest, created, settings))
}

impl Pushed {
    fn new(
        repository: &Repository,
        tag: String,
        digest: String,
        repository_created: bool,
        ecr: Option<EcrSettings>,
    ) -> Pushed {
        Pushed {
            reference: format!("{}@{digest}", repository.uri()),
            repository: repository.uri(),
            tag,
            digest,
            repository_created,
            ecr,
        }
    }
}

struct PreparedEcr {
    created: bool,
    immutable: bool,
    /// The digest an immutable tag already names.
    existing_digest: Option<String>,
    user: String,
    password: String,
    endpoint: String,
}

/// The lifecycle policy that keeps the newest `keep` images, tagged or not.
pub fn lifecycle_policy(keep: u32) -> String {
    serde_json::json!({
        "rules": [{
            "rulePriority": 1,
            "description": format!("keep the newest {keep} images"),
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
            "action": {"type": "expire"}
        }]
    })
    .to_string()
}

/// Creates the repository when missing (scan on push, immutable tags), sets its lifecycle
/// policy, finds whether it holds the tag immutably already, and fetches docker login
/// credentials.
async fn prepare_ecr(
    ecr: &aws_sdk_ecr::Client,
    repository: &Repository,
    tag: &str,
    keep: u32,
) -> Result<PreparedEcr, ImageError> {
    use aws_sdk_ecr::types::{
        ImageIdentifier, ImageScanningConfiguration, ImageTagMutability, Tag,
    };
    let name = repository.name.as_str();
    let described = ecr
        .describe_repositories()
        .repository_names(name)
        .send()
        .await;
    let (created, immutable) = match described {
        Ok(found) => {
            let mutability = found
                .repositories()
                .first()
                .and_then(|r| r.image_tag_mutability().cloned());
            (false, mutability == Some(ImageTagMutability::Immutable))
        }
        Err(error) if code_of(&error) == "RepositoryNotFoundException" => {
            ecr.create_repository()
                .repository_name(name)
                .image_tag_mutability(ImageTagMutability::Immutable)
                .image_scanning_configuration(
                    ImageScanningConfiguration::builder()
                        .scan_on_push(true)
                        .build(),
                )
                .tags(
                    Tag::builder()
                        .key("managed-by")
                        .value("advisor")
                        .build()
                        .map_err(|e| ImageError::Source(e.to_string()))?,
                )
                .send()
                .await
                .map_err(|e| classify(format!("create the ECR repository {name}"), e))?;
            (true, true)
        }
        Err(error) => {
            return Err(classify(format!("describe the ECR repository {name}"), error).into())
        }
    };
    ecr.put_lifecycle_policy()
        .repository_name(name)
        .lifecycle_policy_text(lifecycle_policy(keep))
        .send()
        .await
        .map_err(|e| classify(format!("set the lifecycle policy of {name}"), e))?;
    let mut existing_digest = None;
    if immutable {
        let existing = ecr
            .describe_images()
            .repository_name(name)
            .image_ids(ImageIdentifier::builder().image_tag(tag).build())
            .send()
            .await;
        match existing {
            Ok(found) => {
                existing_digest = found
                    .image_details()
                    .first()
                    .map(|image| image.image_digest().unwrap_or_default().to_string());
            }
            Err(error) if code_of(&error) == "ImageNotFoundException" => {}
            Err(error) => {
                return Err(classify(format!("look for tag {tag} in {name}"), error).into())
            }
        }
    }
    let token = ecr
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| classify("get an ECR authorization token", e))?;
    let data = token
        .authorization_data()
        .first()
        .ok_or_else(|| ImageError::Source("ECR returned no authorization data".into()))?;
    let decoded = data
        .authorization_token()
        .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            ImageError::Source("ECR's authorization token is not base64 USER:PASSWORD".into())
        })?;
    let (user, password) = decoded.split_once(':').ok_or_else(|| {
        ImageError::Source("ECR's authorization token is not USER:PASSWORD".into())
    })?;
    let endpoint = data
        .proxy_endpoint()
        .map(str::to_string)
        .unwrap_or_else(|| format!("https://{}", repository.registry));
    Ok(PreparedEcr {
        created,
        immutable,
        existing_digest,
        user: user.to_string(),
        password: password.to_string(),
        endpoint,
    })
}

/// One image a repository holds.
#[derive(Debug, Serialize)]
pub struct ImageRow {
    pub tags: Vec<String>,
    pub digest: String,
    /// Compressed size (layers and config), as the registry stores it.
    pub size_bytes: Option<u64>,
    pub pushed_at: Option<String>,
}

/// What the repository holds, newest first where the registry says when.
pub fn list(
    repository: &Repository,
    profile: Option<&str>,
    runtime: &tokio::runtime::Runtime,
) -> Result<Vec<ImageRow>, ImageError> {
    match &repository.ecr {
        Some(ecr) => runtime.block_on(async {
            let clients = Clients::load(profile, &ecr.region).await;
            list_ecr(&clients.ecr, &repository.name).await
        }),
        None => runtime.block_on(list_v2(repository)),
    }
}

async fn list_ecr(ecr: &aws_sdk_ecr::Client, name: &str) -> Result<Vec<ImageRow>, ImageError> {
    let mut rows = Vec::new();
    let mut pages = ecr
        .describe_images()
        .repository_name(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify(format!("list the images of {name}"), e))?;
        for image in page.image_details() {
            rows.push(ImageRow {
                tags: image.image_tags().to_vec(),
                digest: image.image_digest().unwrap_or_default().to_string(),
                size_bytes: image
                    .image_size_in_bytes()
                    .and_then(|s| u64::try_from(s).ok()),
                pushed_at: image.image_pushed_at().map(|t| t.to_string()),
            });
        }
    }
    rows.sort_by(|a, b| b.pushed_at.cmp(&a.pushed_at));
    Ok(rows)
}

/// The manifest types docker pushes (schema 2, OCI) and their multi-platform lists.
const MANIFEST_TYPES: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json";

/// Through the registry HTTP API v2: plain HTTP on loopback (as docker allows), else HTTPS.
async fn list_v2(repository: &Repository) -> Result<Vec<ImageRow>, ImageError> {
    let host = repository.registry.split(':').next().unwrap_or_default();
    let loopback = host == "localhost" || host.starts_with("127.") || host == "[::1]";
    let base = format!(
        "{}://{}/v2/{}",
        if loopback { "http" } else { "https" },
        repository.registry,
        repository.name
    );
    let http = reqwest::Client::new();
    let failed = |detail: String| ImageError::Http {
        registry: repository.registry.clone(),
        detail,
    };
    let response = http
        .get(format!("{base}/tags/list"))
        .send()
        .await
        .map_err(|e| ImageError::RegistryUnreachable {
            registry: repository.registry.clone(),
            detail: e.to_string(),
        })?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(Vec::new());
    }
    if response.status() == reqwest::StatusCode::UNAUTHORIZED {
        return Err(ImageError::RegistryDenied {
            registry: repository.registry.clone(),
            detail: "listing tags needs credentials".into(),
        });
    }
    let tags: serde_json::Value = response
        .error_for_status()
        .map_err(|e| failed(e.to_string()))?
        .json()
        .await
        .map_err(|e| failed(format!("its tag list is not JSON: {e}")))?;
    let mut rows: Vec<ImageRow> = Vec::new();
    let names = tags["tags"].as_array().cloned().unwrap_or_default();
    for tag in names.iter().filter_map(|t| t.as_str()) {
        let response = http
            .get(format!("{base}/manifests/{tag}"))
            .header(reqwest::header::ACCEPT, MANIFEST_TYPES)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| failed(format!("manifest of {tag}: {e}")))?;
        let digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let manifest: serde_json::Value = response
            .json()
            .await
            .map_err(|e| failed(format!("manifest of {tag} is not JSON: {e}")))?;
        let size = manifest["layers"].as_array().map(|layers| {
            layers
                .iter()
                .filter_map(|l| l["size"].as_u64())
                .sum::<u64>()
                + manifest["config"]["size"].as_u64().unwrap_or(0)
        });
        match rows
            .iter_mut()
            .find(|row| row.digest == digest && !digest.is_empty())
        {
            Some(row) => row.tags.push(tag.to_string()),
            None => rows.push(ImageRow {
                tags: vec![tag.to_string()],
                digest,
                size_bytes: size,
                pushed_at: None,
            }),
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_parse_and_ecr_hosts_are_recognised() {
        let ecr: Repository = "123456789012.dkr.ecr.eu-west-2.amazonaws.com/advisor-engine"
            .parse()
            .unwrap();
        assert_eq!(
            ecr.ecr,
            Some(Ecr {
                account: "123456789012".into(),
                region: "eu-west-2".into()
            })
        );
        let local: Repository = "127.0.0.1:5000/team/advisor-engine".parse().unwrap();
        assert_eq!(local.registry, "127.0.0.1:5000");
        assert_eq!(local.name, "team/advisor-engine");
        assert!(local.ecr.is_none());
        for bad in [
            "advisor-engine",
            "127.0.0.1:5000/",
            "host.example/Upper",
            "nohost/x",
        ] {
            assert!(bad.parse::<Repository>().is_err(), "{bad} parsed");
        }
        assert_eq!(tag_of("127.0.0.1:5000/advisor-engine:0.1.0"), Some("0.1.0"));
        assert_eq!(tag_of("127.0.0.1:5000/advisor-engine"), None);
    }

    #[test]
    fn the_lifecycle_policy_keeps_the_newest_images() {
        let policy: serde_json::Value = serde_json::from_str(&lifecycle_policy(7)).unwrap();
        assert_eq!(policy["rules"][0]["selection"]["countNumber"], 7);
        assert_eq!(policy["rules"][0]["action"]["type"], "expire");
    }
}
