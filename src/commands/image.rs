//! `advisor image build | push | list`.

use serde::Serialize;

use super::{runtime, spinner};
use crate::aws::{self, Clients};
use crate::cli::{ImageBuildArgs, ImageListArgs, ImagePushArgs};
use crate::image::{self, BuildOptions, BuiltImage, ImageRow, PushOptions, Pushed, Repository};
use crate::output::{markdown_table, table, OutputFormat, JSON_SCHEMA_VERSION};
use crate::stack::{Flavor, StackSpec};

/// Shows each line a long docker or cargo step prints as the spinner's message, so the
/// step in progress is visible without scrolling the whole build by.
fn progress_of(bar: &indicatif::ProgressBar) -> impl FnMut(&str) + '_ {
    move |line: &str| {
        let line = line.trim();
        if !line.is_empty() {
            bar.set_message(line.chars().take(100).collect::<String>());
        }
    }
}

#[derive(Serialize)]
struct BuildDocument<'a> {
    schema_version: u32,
    image: &'a BuiltImage,
}

pub fn build(args: &ImageBuildArgs, format: OutputFormat) -> anyhow::Result<()> {
    let options = BuildOptions {
        tag: args.tag.clone().unwrap_or_else(image::default_tag),
        base: args.base,
        engine_binary: args.engine_binary.clone(),
        source: args.source.clone(),
    };
    let bar = spinner(format);
    bar.set_message(format!("building {}", options.tag));
    let built = image::build(&options, &mut progress_of(&bar));
    bar.finish_and_clear();
    let built = built?;
    match format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&BuildDocument {
                schema_version: JSON_SCHEMA_VERSION,
                image: &built,
            })?
        ),
        _ => println!(
            "Built {} ({}, {:.1} MB, {})",
            built.tag,
            short_id(&built.id),
            built.size_bytes as f64 / 1e6,
            match built.base {
                image::Base::Scratch => "static binary on scratch",
                image::Base::Debian => "debian:bookworm-slim",
            }
        ),
    }
    Ok(())
}

fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

#[derive(Serialize)]
struct PushDocument<'a> {
    schema_version: u32,
    pushed: &'a Pushed,
}

pub fn push(args: &ImagePushArgs, format: OutputFormat) -> anyhow::Result<()> {
    let repository: Repository = args.repository.parse()?;
    let options = PushOptions {
        image: args.image.clone().unwrap_or_else(image::default_tag),
        repository,
        tag: args.tag.clone(),
        keep_images: args.keep_images,
        profile: args.aws.profile.clone(),
        reuse_existing_tag: false,
    };
    let runtime = runtime()?;
    let bar = spinner(format);
    bar.set_message(format!("pushing {} to {}", options.image, args.repository));
    let pushed = image::push(&options, &runtime, &mut progress_of(&bar));
    bar.finish_and_clear();
    let pushed = pushed?;
    match format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&PushDocument {
                schema_version: JSON_SCHEMA_VERSION,
                pushed: &pushed,
            })?
        ),
        _ => {
            if pushed.repository_created {
                println!("Created the ECR repository {}", pushed.repository);
            }
            if let Some(ecr) = &pushed.ecr {
                println!(
                    "ECR settings: scan on push {}, immutable tags {}, lifecycle keeps the newest {} images",
                    yes_no(ecr.scan_on_push),
                    yes_no(ecr.immutable_tags),
                    ecr.keep_images
                );
            }
            println!("Pushed {}:{}", pushed.repository, pushed.tag);
            println!("Image: {}", pushed.reference);
        }
    }
    Ok(())
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "on"
    } else {
        "off"
    }
}

#[derive(Serialize)]
struct ListDocument<'a> {
    schema_version: u32,
    repository: String,
    images: &'a [ImageRow],
}

pub fn list(args: &ImageListArgs, format: OutputFormat) -> anyhow::Result<()> {
    let repository: Repository = args.repository.parse()?;
    let runtime = runtime()?;
    let images = image::list(&repository, args.aws.profile.as_deref(), &runtime)?;
    let header = ["Tags", "Digest", "Size (compressed)", "Pushed"];
    let rows: Vec<Vec<String>> = images
        .iter()
        .map(|row| {
            vec![
                row.tags.join(", "),
                row.digest.clone(),
                row.size_bytes
                    .map(|b| format!("{:.1} MB", b as f64 / 1e6))
                    .unwrap_or_else(|| "-".into()),
                row.pushed_at.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    match format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&ListDocument {
                schema_version: JSON_SCHEMA_VERSION,
                repository: repository.uri(),
                images: &images,
            })?
        ),
        OutputFormat::Markdown => print!("{}", markdown_table(&header, &rows)),
        OutputFormat::Table => {
            if rows.is_empty() {
                println!("{} holds no images", repository.uri());
            } else {
                let mut out = table(&header);
                for row in rows {
                    out.add_row(row);
                }
                println!("{out}");
            }
        }
    }
    Ok(())
}

/// `deploy --build-image`: builds the engine image, pushes it (to the stack's ECR repository
/// unless `repository` names another) under a tag named after the image's content, and
/// points the stack's engine services at the pushed digest.
pub(super) fn build_and_push_for_deploy(
    spec: &mut StackSpec,
    repository: Option<&str>,
    profile: Option<&str>,
    runtime: &tokio::runtime::Runtime,
    format: OutputFormat,
) -> anyhow::Result<Pushed> {
    if spec.flavor != Flavor::Engine {
        anyhow::bail!(
            "--build-image is for --flavor engine: the {} flavor runs its project's published images",
            spec.flavor.id()
        );
    }
    let repository: Repository = match repository {
        Some(uri) => uri.parse()?,
        None => {
            let account = runtime.block_on(async {
                let clients = Clients::load(profile, &spec.region).await;
                aws::account_id(&clients).await
            })?;
            format!(
                "{account}.dkr.ecr.{}.amazonaws.com/{}",
                spec.region,
                image::IMAGE_NAME
            )
            .parse()?
        }
    };
    let bar = spinner(format);
    bar.set_message("building the engine image");
    let local = image::default_tag();
    let built = image::build(
        &BuildOptions {
            tag: local.clone(),
            base: image::Base::Scratch,
            engine_binary: None,
            source: None,
        },
        &mut progress_of(&bar),
    )
    .inspect_err(|_| bar.finish_and_clear())?;
    bar.set_message(format!("pushing to {}", repository.uri()));
    // The tag names the content, so an immutable repository that holds it holds this image.
    let tag = format!("{}-{}", env!("CARGO_PKG_VERSION"), short_id(&built.id));
    let pushed = image::push(
        &PushOptions {
            image: local,
            repository,
            tag: Some(tag),
            keep_images: image::KEEP_IMAGES,
            profile: profile.map(str::to_string),
            reuse_existing_tag: true,
        },
        runtime,
        &mut progress_of(&bar),
    );
    bar.finish_and_clear();
    let pushed = pushed?;
    for service in &mut spec.services {
        service.image = pushed.reference.clone();
    }
    if format != OutputFormat::Json {
        println!("Image: {}", pushed.reference);
    }
    Ok(pushed)
}
