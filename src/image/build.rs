//! `advisor image build`: the engine's image from engine/Dockerfile, either around a
//! static binary built on this machine (`scratch`, nothing pulled) or from source
//! (`debian`, a multi-stage build that pulls the Rust and Debian images).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;

use super::docker::{self, Docker};
use super::ImageError;

/// The Dockerfile as this advisor was built with; a scratch build needs no checkout.
const DOCKERFILE: &str = include_str!("../../engine/Dockerfile");

/// Where distributions keep the CA bundle the scratch image carries for TLS to Kafka, the
/// Schema Registry and S3.
const CA_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Base {
    /// A static binary built here, in an empty image: small, and nothing is pulled.
    Scratch,
    /// Built from source in rust:1-bookworm, run on debian:bookworm-slim (pulls both; needs
    /// BuildKit).
    Debian,
}

pub struct BuildOptions {
    /// The image's tag, e.g. advisor-engine:0.1.0.
    pub tag: String,
    pub base: Base,
    /// A static advisor-engine binary to put in the scratch image instead of building one.
    pub engine_binary: Option<PathBuf>,
    /// The advisor source checkout [default: found from the current folder upward].
    pub source: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct BuiltImage {
    pub tag: String,
    /// Docker's image id (sha256:...).
    pub id: String,
    /// Uncompressed size, as `docker image ls` shows it.
    pub size_bytes: u64,
    pub base: Base,
    /// The static binary inside a scratch image, as built or given.
    pub engine_binary: Option<PathBuf>,
}

/// Builds the image; each line cargo and docker print goes to `progress`.
pub fn build(
    options: &BuildOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<BuiltImage, ImageError> {
    let engine_binary = match options.base {
        Base::Scratch => {
            let binary = match &options.engine_binary {
                Some(binary) => binary.clone(),
                None => build_static_engine(&source_dir(options.source.as_deref())?, progress)?,
            };
            check_static(&binary)?;
            let context = StaticContext::create(&binary)?;
            Docker::new([
                "build",
                "--target",
                "static",
                "--tag",
                &options.tag,
                "--label",
                &format!(
                    "org.opencontainers.image.version={}",
                    env!("CARGO_PKG_VERSION")
                ),
                "--label",
                "org.opencontainers.image.title=advisor-engine",
            ])
            .arg(context.path().display().to_string())
            .run(progress)?;
            Some(binary)
        }
        Base::Debian => {
            if options.engine_binary.is_some() {
                return Err(ImageError::Source(
                    "--engine-binary is for --base scratch; --base debian builds the engine from source".into(),
                ));
            }
            let source = source_dir(options.source.as_deref())?;
            if !docker::has_buildkit() {
                return Err(ImageError::BuildKitMissing);
            }
            let dockerfile = source.join("engine/Dockerfile");
            Docker::new([
                "build",
                "--target",
                "debian",
                "--tag",
                &options.tag,
                "--file",
            ])
            .arg(dockerfile.display().to_string())
            .arg(source.display().to_string())
            .env("DOCKER_BUILDKIT", "1")
            .run(progress)?;
            None
        }
    };
    let inspected = Docker::new([
        "image",
        "inspect",
        "--format",
        "{{.Id}} {{.Size}}",
        &options.tag,
    ])
    .run(&mut |_| {})?;
    let mut fields = inspected.split_whitespace();
    let id = fields.next().unwrap_or_default().to_string();
    let size_bytes = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok(BuiltImage {
        tag: options.tag.clone(),
        id,
        size_bytes,
        base: options.base,
        engine_binary,
    })
}

/// The advisor checkout: `--source`, else the first folder from here upward that holds
/// engine/Dockerfile and a Cargo.toml, else the one this advisor was built from.
fn source_dir(given: Option<&Path>) -> Result<PathBuf, ImageError> {
    let is_checkout =
        |dir: &Path| dir.join("engine/Dockerfile").is_file() && dir.join("Cargo.toml").is_file();
    if let Some(dir) = given {
        return if is_checkout(dir) {
            Ok(dir.to_path_buf())
        } else {
            Err(ImageError::Source(format!(
                "{} is not an advisor checkout (no engine/Dockerfile and Cargo.toml there)",
                dir.display()
            )))
        };
    }
    let here = std::env::current_dir().ok();
    let found = here
        .iter()
        .flat_map(|dir| dir.ancestors())
        .find(|dir| is_checkout(dir))
        .map(Path::to_path_buf)
        .or_else(|| {
            let built_from = Path::new(env!("CARGO_MANIFEST_DIR"));
            is_checkout(built_from).then(|| built_from.to_path_buf())
        });
    found.ok_or_else(|| {
        ImageError::Source(
            "no advisor source checkout here to build the engine from: run inside one, pass --source DIR, or pass --engine-binary FILE".into(),
        )
    })
}

/// Builds advisor-engine as a static binary with the machine's toolchain. It has its own
/// target folder: the static build's flags differ from the usual build's, and sharing one
/// would make each rebuild the other.
fn build_static_engine(
    source: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf, ImageError> {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| source.join("target"))
        .join("static-engine");
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    progress(&format!(
        "building the static engine binary in {}",
        target_dir.display()
    ));
    let mut child = Command::new(&cargo)
        .current_dir(source)
        .args(["build", "--release", "--locked", "-p", "advisor-engine"])
        .args(["--bin", "advisor-engine", "--target", &triple])
        // --target keeps the flag off build scripts and proc macros, which stay dynamic.
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("CARGO_TERM_PROGRESS_WHEN", "never")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            ImageError::Cargo(format!(
                "cargo does not start ({e}); install Rust, or pass --engine-binary FILE"
            ))
        })?;
    let mut tail = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            progress(&line);
            tail.push(line);
            if tail.len() > 8 {
                tail.remove(0);
            }
        }
    }
    let status = child.wait().map_err(|source| ImageError::Io {
        doing: "wait for cargo".into(),
        source,
    })?;
    if !status.success() {
        return Err(ImageError::Cargo(tail.join("; ")));
    }
    Ok(target_dir
        .join(triple)
        .join("release")
        .join("advisor-engine"))
}

/// A static ELF binary has no PT_INTERP program header (no dynamic loader to name).
fn check_static(path: &Path) -> Result<(), ImageError> {
    const PT_INTERP: u32 = 3;
    let bytes = std::fs::read(path).map_err(|source| ImageError::Io {
        doing: format!("read {}", path.display()),
        source,
    })?;
    let not_static = || ImageError::NotStatic {
        path: path.to_path_buf(),
    };
    let u16_at = |at: usize| -> Option<u16> {
        Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
    };
    let u64_at = |at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
    };
    // 64-bit little-endian ELF only: the engine is built for x86_64 and aarch64.
    if bytes.get(..6) != Some(b"\x7fELF\x02\x01".as_slice()) {
        return Err(not_static());
    }
    let offset = u64_at(0x20).ok_or_else(not_static)? as usize;
    let entry_size = u16_at(0x36).ok_or_else(not_static)? as usize;
    let entries = u16_at(0x38).ok_or_else(not_static)? as usize;
    for entry in 0..entries {
        let at = offset + entry * entry_size;
        let kind = bytes
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(not_static)?;
        if kind == PT_INTERP {
            return Err(not_static());
        }
    }
    Ok(())
}

/// The scratch build's context: the Dockerfile, the binary, the CA bundle and an empty
/// state folder, in a temporary folder removed when dropped.
struct StaticContext {
    dir: PathBuf,
}

impl StaticContext {
    fn create(binary: &Path) -> Result<StaticContext, ImageError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("advisor-image-{}-{nanos}", std::process::id()));
        let context = StaticContext { dir };
        let io = |doing: String| move |source| ImageError::Io { doing, source };
        std::fs::create_dir_all(context.dir.join("state"))
            .map_err(io(format!("create {}", context.dir.display())))?;
        std::fs::write(context.dir.join("Dockerfile"), DOCKERFILE)
            .map_err(io("write the Dockerfile".into()))?;
        std::fs::copy(binary, context.dir.join("advisor-engine"))
            .map_err(io(format!("copy {}", binary.display())))?;
        let bundle = CA_BUNDLES
            .iter()
            .map(Path::new)
            .find(|path| path.is_file())
            .ok_or_else(|| {
                ImageError::Source(format!(
                    "no CA certificate bundle on this machine (looked for {}); install ca-certificates",
                    CA_BUNDLES.join(", ")
                ))
            })?;
        std::fs::copy(bundle, context.dir.join("ca-certificates.crt"))
            .map_err(io(format!("copy {}", bundle.display())))?;
        Ok(context)
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for StaticContext {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
