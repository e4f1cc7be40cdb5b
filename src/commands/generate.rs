use std::path::{Component, Path};

use anyhow::Context;
use serde::Serialize;

use super::stacks;
use crate::cli::{GenerateArgs, GenerateFormat};
use crate::output::JSON_SCHEMA_VERSION;
use crate::render::terraform::{self, File};
use crate::stack::StackSpec;

pub fn run(args: &GenerateArgs) -> anyhow::Result<()> {
    let spec = stacks::build(&args.stack, Some(&args.sizing))?.spec;
    match (args.format, &args.out) {
        (GenerateFormat::Json, _) => {
            #[derive(Serialize)]
            struct Document<'a> {
                schema_version: u32,
                stack: &'a StackSpec,
            }
            let document = Document {
                schema_version: JSON_SCHEMA_VERSION,
                stack: &spec,
            };
            println!("{}", serde_json::to_string_pretty(&document)?);
            Ok(())
        }
        (GenerateFormat::Terraform, Some(out)) => {
            let files = terraform::render(&spec)?;
            let written = write_all(out, &files, args.force)?;
            println!(
                "{} stack {} in {}: {} files written, {} unchanged",
                spec.flavor.id(),
                spec.name,
                out.display(),
                written,
                files.len() - written
            );
            if let Some(sizing) = &spec.sizing {
                println!("Sizing: {}", sizing.note);
            }
            Ok(())
        }
        (GenerateFormat::Terraform, None) => {
            anyhow::bail!("--out DIR is needed to write Terraform")
        }
    }
}

/// Writes the files under `dir`. A file that exists with other contents is refused unless
/// `force`, and nothing is written until every file has been checked.
fn write_all(dir: &Path, files: &[File], force: bool) -> anyhow::Result<usize> {
    let mut to_write = Vec::new();
    let mut conflicts = Vec::new();
    for file in files {
        let relative = Path::new(&file.path);
        if relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            anyhow::bail!("refusing to write {}: outside the output folder", file.path);
        }
        let path = dir.join(relative);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                anyhow::bail!("refusing to write through the symlink {}", path.display())
            }
            Ok(_) => {
                let current = std::fs::read_to_string(&path).unwrap_or_default();
                if current == file.contents {
                    continue;
                }
                if !force {
                    conflicts.push(path.display().to_string());
                }
            }
            Err(_) => {}
        }
        to_write.push((path, &file.contents));
    }
    if !conflicts.is_empty() {
        anyhow::bail!(
            "these files exist and differ from what advisor would write (edited by hand?): {}; pass --force to overwrite them",
            conflicts.join(", ")
        );
    }
    for (path, contents) in &to_write {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(path, contents)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(to_write.len())
}
