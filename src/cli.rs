//! Command-line definitions. Each subcommand's arguments live beside its name here; the
//! work is in `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::decide::Approach;
use crate::output::OutputFormat;
use crate::stack::{Arch, Flavor};
use crate::workload::{LogicKind, Workload};

#[derive(Debug, Parser)]
#[command(
    name = "advisor",
    version,
    about = "Decide whether and how to add stream processing to Kafka, what it costs, and deploy it",
    long_about = "advisor walks the decision tree for a streaming workload (dbt, a producer transform, \
ksqlDB, Flink or the advisor engine), prices the answer, writes Terraform for it and deploys it \
to AWS ECS Fargate."
)]
pub struct Cli {
    /// How to print results.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// Log detail on stderr (error, warn, info, debug, trace); RUST_LOG works too.
    #[arg(long, global = true, default_value = "warn", env = "ADVISOR_LOG")]
    pub log: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Walk the decision tree for a workload and explain the recommendation.
    #[command(after_help = RECOMMEND_EXAMPLES)]
    Recommend(RecommendArgs),
    /// Estimate the monthly cost of an approach, ops hours included.
    #[command(after_help = COST_EXAMPLES)]
    Cost(CostArgs),
    /// Write a shareable report (Markdown and self-contained HTML) for workloads.
    #[command(after_help = REPORT_EXAMPLES)]
    Report(ReportArgs),
    /// Write Terraform for a ksqlDB, Flink or engine stack on ECS Fargate.
    #[command(after_help = GENERATE_EXAMPLES)]
    Generate(GenerateArgs),
    /// Apply a stack straight to AWS through the SDK: plan, confirm, apply, wait.
    #[command(after_help = DEPLOY_EXAMPLES)]
    Deploy(DeployArgs),
    /// Show a deployed stack: services, sizes, deployments, events, the monthly cost as the
    /// stack file describes it and as it runs, and where they differ (drift).
    #[command(after_help = STATUS_EXAMPLES)]
    Status(StatusArgs),
    /// Print what deploy would change as unified diffs (task definitions as JSON), for review.
    #[command(after_help = DIFF_EXAMPLES)]
    Diff(DiffArgs),
    /// Read a deployed stack's CloudWatch logs, interleaved by time, service name in front.
    #[command(after_help = LOGS_EXAMPLES)]
    Logs(LogsArgs),
    /// Point services back at their previous task definition revision and wait for it.
    #[command(after_help = ROLLBACK_EXAMPLES)]
    Rollback(RollbackArgs),
    /// Delete a deployed stack; the checkpoint bucket only with --delete-data.
    Destroy(DestroyArgs),
    /// Send work to a running stack: ksqlDB statements, or a Flink jar or SQL file.
    #[command(subcommand)]
    Submit(SubmitCommand),
    /// Talk to a ksqlDB-compatible server (ksqlDB or advisor-engine).
    #[command(subcommand)]
    Ksql(KsqlCommand),
    /// Operate Flink jobs: list them, stop one with a savepoint, upgrade one.
    #[command(subcommand)]
    Flink(FlinkCommand),
    /// Build the advisor-engine container image, push it to ECR or another registry, list
    /// what a repository holds.
    #[command(subcommand)]
    Image(ImageCommand),
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build the engine's image through the docker CLI from engine/Dockerfile.
    #[command(after_help = IMAGE_BUILD_EXAMPLES)]
    Build(ImageBuildArgs),
    /// Push an image to a repository: ECR (created when missing) or any registry.
    #[command(after_help = IMAGE_PUSH_EXAMPLES)]
    Push(ImagePushArgs),
    /// Show the images a repository holds: tags, digests, sizes.
    List(ImageListArgs),
}

const IMAGE_BUILD_EXAMPLES: &str = "Examples:
  advisor image build                               # advisor-engine:VERSION from scratch
  advisor image build --tag advisor-engine:dev --engine-binary ./advisor-engine
  advisor image build --base debian                 # from source; needs BuildKit and pulls

--base scratch (the default) builds a static engine binary with this machine's Rust
toolchain (RUSTFLAGS='-C target-feature=+crt-static', in TARGET/static-engine) and copies it
into an empty image with the CA certificates: nothing is pulled, so it works on a Docker
that cannot reach a registry. --base debian is the conventional multi-stage build.";

const IMAGE_PUSH_EXAMPLES: &str = "Examples:
  advisor image push --repository 123456789012.dkr.ecr.eu-west-2.amazonaws.com/advisor-engine
  advisor image push --repository 127.0.0.1:5000/advisor-engine --tag dev -o json

For an ECR repository, advisor creates it when missing (scan on push, immutable tags, a
lifecycle policy keeping the newest --keep-images images), logs docker in with
GetAuthorizationToken, and pushes; a tag the repository already holds is refused before
anything is uploaded. Any other registry is pushed to as `docker push` does, with the
credentials of `docker login`. The digest printed names the exact image for a task
definition.";

#[derive(Debug, Args)]
pub struct ImageBuildArgs {
    /// The image's tag [default: advisor-engine:VERSION].
    #[arg(long)]
    pub tag: Option<String>,

    /// What the image is built on.
    #[arg(long, value_enum, default_value_t = crate::image::Base::Scratch)]
    pub base: crate::image::Base,

    /// A static advisor-engine binary to use instead of building one (--base scratch).
    #[arg(long, value_name = "FILE")]
    pub engine_binary: Option<PathBuf>,

    /// The advisor source checkout [default: found from the current folder upward].
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImagePushArgs {
    /// HOST[:PORT]/NAME of the repository, e.g. 123456789012.dkr.ecr.eu-west-2.amazonaws.com/advisor-engine.
    #[arg(long, value_name = "URI")]
    pub repository: String,

    /// The local image to push [default: advisor-engine:VERSION].
    #[arg(long)]
    pub image: Option<String>,

    /// The tag in the repository [default: the local image's tag].
    #[arg(long)]
    pub tag: Option<String>,

    /// ECR: how many images the repository's lifecycle policy keeps.
    #[arg(long, default_value_t = crate::image::KEEP_IMAGES, value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_images: u32,

    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct ImageListArgs {
    /// HOST[:PORT]/NAME of the repository.
    #[arg(long, value_name = "URI")]
    pub repository: String,

    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Subcommand)]
pub enum SubmitCommand {
    /// Run a file of ksqlDB statements in order, stopping at the first the server refuses.
    #[command(after_help = SUBMIT_KSQL_EXAMPLES)]
    Ksql(SubmitKsqlArgs),
    /// Start a Flink job from a jar, or from a file of Flink SQL (no SQL Gateway needed).
    #[command(after_help = SUBMIT_FLINK_EXAMPLES)]
    Flink(SubmitFlinkArgs),
}

const SUBMIT_KSQL_EXAMPLES: &str = "Examples:
  advisor submit ksql examples/orders.sql --endpoint http://localhost:8088
  advisor submit ksql examples/orders.sql --config stack.toml      # the stack's endpoint
  advisor submit ksql examples/orders.sql --dry-run

The endpoint is --endpoint, else ADVISOR_KSQL_ENDPOINT, else the endpoint of the stack that
--config describes (a Cloud Map name, reachable inside the stack's VPC), else
http://localhost:8088.";

const SUBMIT_FLINK_EXAMPLES: &str = "Examples:
  advisor submit flink --sql examples/flink/fraud_detection.sql
  advisor submit flink --jar target/job.jar --class com.example.Job -- --input s3://in
  advisor submit flink --sql job.sql --from-savepoint s3://bucket/savepoints/savepoint-ab12

SQL runs through advisor's SQL runner jar (embedded in advisor): the file's SET statements
configure the job, its CREATE statements run in order, and all of its INSERTs run as one job.
The endpoint is --endpoint, else ADVISOR_FLINK_ENDPOINT, else the JobManager of the stack that
--config describes, else http://localhost:8081.";

/// Where the server is: a URL, or the stack that runs it.
#[derive(Debug, Args)]
pub struct EndpointArgs {
    /// Server URL [default: the ADVISOR_*_ENDPOINT variable, else --config's stack, else localhost].
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,

    /// stack.toml of the deployed stack whose endpoint to use (see `advisor deploy`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Name prefix of the deployed stack [default: stack.toml's name, else advisor-FLAVOR].
    #[arg(long, requires = "config")]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct SubmitKsqlArgs {
    /// SQL file: statements end with `;` (strings, comments and quoted names may hold one).
    pub file: PathBuf,

    #[command(flatten)]
    pub endpoint: EndpointArgs,

    /// Which stack --config describes.
    #[arg(long, default_value = "ksqldb", value_parser = ksql_flavor)]
    pub flavor: Flavor,

    /// Only split and list the statements; send nothing.
    #[arg(long)]
    pub dry_run: bool,
}

fn ksql_flavor(text: &str) -> Result<Flavor, String> {
    match text {
        "ksqldb" => Ok(Flavor::Ksqldb),
        "engine" => Ok(Flavor::Engine),
        other => Err(format!(
            "'{other}' does not speak ksqlDB's API; use ksqldb or engine"
        )),
    }
}

#[derive(Debug, Subcommand)]
pub enum KsqlCommand {
    /// Run a pull or push query and print its rows as they arrive.
    Query(KsqlQueryArgs),
}

#[derive(Debug, Args)]
pub struct KsqlQueryArgs {
    /// The SELECT to run, e.g. "SELECT * FROM t WHERE id = 'x';".
    pub sql: String,

    #[command(flatten)]
    pub endpoint: EndpointArgs,

    /// Which stack --config describes.
    #[arg(long, default_value = "ksqldb", value_parser = ksql_flavor)]
    pub flavor: Flavor,
}

/// What job to start: a jar or a SQL file, and how.
#[derive(Debug, Args)]
#[group(skip)]
#[command(group(clap::ArgGroup::new("job_source").required(true).args(["jar", "sql"])))]
pub struct FlinkJobArgs {
    /// Job jar to upload and run.
    #[arg(long, value_name = "FILE")]
    pub jar: Option<PathBuf>,

    /// Flink SQL file (SET, CREATE ..., INSERT INTO ...); its INSERTs run as one job.
    #[arg(long, value_name = "FILE")]
    pub sql: Option<PathBuf>,

    /// Entry class of the jar [default: the Main-Class of its manifest].
    #[arg(long, conflicts_with = "sql")]
    pub class: Option<String>,

    /// One argument for the jar's main method (repeat it); or put them all after `--`.
    #[arg(
        long = "args",
        conflicts_with = "sql",
        allow_hyphen_values = true,
        value_name = "ARG"
    )]
    pub args: Vec<String>,

    /// Arguments for the jar's main method, after `--`.
    #[arg(last = true, conflicts_with = "sql", value_name = "JOB_ARGS")]
    pub trailing_args: Vec<String>,

    /// Parallelism of the job [default: the cluster's parallelism.default].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub parallelism: Option<u32>,

    /// Also start when the savepoint holds state no operator of the new job claims.
    #[arg(long)]
    pub allow_non_restored_state: bool,

    /// How long to wait for the job to run.
    #[arg(long, default_value = "3m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct SubmitFlinkArgs {
    #[command(flatten)]
    pub job: FlinkJobArgs,

    /// Start from this savepoint or retained checkpoint (a path the cluster can read).
    #[arg(long, value_name = "PATH")]
    pub from_savepoint: Option<String>,

    #[command(flatten)]
    pub endpoint: EndpointArgs,

    /// Check the job (split the SQL, read the jar) and show what would be sent; send nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum FlinkCommand {
    /// List the cluster's jobs, newest first.
    Jobs(FlinkJobsArgs),
    /// Stop a job; with --savepoint Flink takes a savepoint first, without it the job is cancelled.
    Stop(FlinkStopArgs),
    /// Replace a running job: stop it with a savepoint, then start the new jar or SQL from it.
    #[command(after_help = FLINK_UPGRADE_EXAMPLES)]
    Upgrade(FlinkUpgradeArgs),
}

const FLINK_UPGRADE_EXAMPLES: &str = "Examples:
  advisor flink upgrade 3c5e...9a1f --sql examples/flink/fraud_detection.sql
  advisor flink upgrade 3c5e...9a1f --jar job-v2.jar --savepoint s3://bucket/savepoints

When the new job does not start, the savepoint stays where it was written: start it again
with `advisor submit flink ... --from-savepoint PATH`.";

#[derive(Debug, Args)]
pub struct FlinkJobsArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
}

#[derive(Debug, Args)]
pub struct FlinkStopArgs {
    /// Id of the job (see `advisor flink jobs`).
    pub job_id: String,

    /// Take a savepoint first, into DIR [default DIR: the cluster's state.savepoints.dir].
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "")]
    pub savepoint: Option<String>,

    /// Let the job's windows fire and emit everything before it stops (end of stream).
    #[arg(long, requires = "savepoint")]
    pub drain: bool,

    /// How long to wait for the savepoint.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,

    #[command(flatten)]
    pub endpoint: EndpointArgs,
}

#[derive(Debug, Args)]
pub struct FlinkUpgradeArgs {
    /// Id of the running job to replace.
    pub job_id: String,

    #[command(flatten)]
    pub job: FlinkJobArgs,

    /// Directory for the savepoint [default: the cluster's state.savepoints.dir].
    #[arg(long, value_name = "DIR")]
    pub savepoint: Option<String>,

    #[command(flatten)]
    pub endpoint: EndpointArgs,
}

const DEPLOY_EXAMPLES: &str = "Examples:
  advisor deploy --flavor ksqldb --config stack.toml --dry-run
  advisor deploy --flavor flink --config stack.toml --events-per-sec 50000 --yes --timeout 20m
  advisor deploy --flavor engine --config stack.toml --profile prod --no-wait -o json
  advisor deploy --flavor engine --config stack.toml --build-image --yes  (build, push, deploy)
  advisor deploy --flavor ksqldb --config stack.toml --diff --dry-run   (the plan as diffs)

The workload flags (or --workload FILE) size the processing service as `advisor cost` does.

Credentials and region come from the AWS default chain (environment, profile, SSO,
instance role); AWS_ENDPOINT_URL points every client at another endpoint.";

/// How to reach AWS.
#[derive(Debug, Args)]
pub struct AwsArgs {
    /// Named profile from the AWS config files.
    #[arg(long, env = "AWS_PROFILE")]
    pub profile: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    #[command(flatten)]
    pub sizing: SizingArgs,

    #[command(flatten)]
    pub aws: AwsArgs,

    /// Print the plan and stop; nothing is changed.
    #[arg(long)]
    pub dry_run: bool,

    /// Apply without asking (needed when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Return once the changes are made, without waiting for the rollout.
    #[arg(long, conflicts_with = "wait")]
    pub no_wait: bool,

    /// Wait until every service runs its new task definition (the default).
    #[arg(long)]
    pub wait: bool,

    /// How long to wait for the rollout, e.g. 15m, 1h.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,

    /// Show the plan as unified diffs (as `advisor diff` does) instead of the table.
    #[arg(long)]
    pub diff: bool,

    /// Engine flavor: build the advisor-engine image (as `advisor image build` does), push
    /// it, and deploy the task definition that names the pushed digest.
    #[arg(long)]
    pub build_image: bool,

    /// Where --build-image pushes [default: the stack's ECR repository,
    /// ACCOUNT.dkr.ecr.REGION.amazonaws.com/advisor-engine, created when missing].
    #[arg(long, value_name = "URI", requires = "build_image")]
    pub image_repository: Option<String>,
}

const STATUS_EXAMPLES: &str = "Examples:
  advisor status --flavor ksqldb --config stack.toml
  advisor status --flavor flink --config stack.toml --events-per-sec 50000 -o json

Give the same workload flags (or --workload FILE) as to deploy: the stack file's cost and drift
are worked out for the stack that deploy applied.";

const DIFF_EXAMPLES: &str = "Examples:
  advisor diff --flavor ksqldb --config stack.toml
  advisor diff --flavor flink --config stack.toml --events-per-sec 50000 -o json

Each resource deploy would create or change is printed as a unified diff: `---` what AWS has,
`+++` what the stack file asks. Nothing is changed.";

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    #[command(flatten)]
    pub sizing: SizingArgs,

    #[command(flatten)]
    pub aws: AwsArgs,
}

const LOGS_EXAMPLES: &str = "Examples:
  advisor logs --flavor ksqldb --config stack.toml
  advisor logs --flavor flink --config stack.toml --service taskmanager --since 1h --filter ERROR
  advisor logs --flavor engine --config stack.toml --follow

With -o json each event is one JSON line: timestamp (ms), time, service, stream, message.";

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    #[command(flatten)]
    pub aws: AwsArgs,

    /// Only this service's logs (e.g. ksqldb-server, taskmanager) [default: every service].
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,

    /// How far back to start, e.g. 10m, 2h, 1day.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub since: std::time::Duration,

    /// Keep polling for new events until Ctrl-C.
    #[arg(long, short = 'f')]
    pub follow: bool,

    /// CloudWatch Logs filter pattern: a term, e.g. ERROR, or a quoted phrase.
    #[arg(long, value_name = "PATTERN")]
    pub filter: Option<String>,
}

const ROLLBACK_EXAMPLES: &str = "Examples:
  advisor rollback --flavor ksqldb --config stack.toml --yes
  advisor rollback --flavor flink --config stack.toml --service taskmanager --to 3
  advisor rollback --flavor engine --config stack.toml --dry-run

Each service goes back to the newest active revision of its own task definition family older
than the one it runs (or to --to REVISION), keeping its task count; then rollback waits as deploy
does. A service with no earlier revision of its family is refused.";

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    #[command(flatten)]
    pub aws: AwsArgs,

    /// Only this service (e.g. taskmanager) [default: every service of the stack].
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,

    /// The revision number to go to [default: the previous active one].
    #[arg(long, value_name = "REVISION", requires = "service")]
    pub to: Option<u32>,

    /// Show what would change and stop.
    #[arg(long)]
    pub dry_run: bool,

    /// Roll back without asking (needed when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Return once the services are updated, without waiting for the rollout.
    #[arg(long)]
    pub no_wait: bool,

    /// How long to wait for the rollout, e.g. 15m, 1h.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    #[command(flatten)]
    pub sizing: SizingArgs,

    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    #[command(flatten)]
    pub aws: AwsArgs,

    /// Delete without asking (needed when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Also empty and delete the checkpoint bucket: every version and delete marker.
    #[arg(long)]
    pub delete_data: bool,
}

const GENERATE_EXAMPLES: &str = "Examples:
  advisor generate --flavor ksqldb --out infra/ksqldb
  advisor generate --flavor flink --config stack.toml --out infra/flink
  advisor generate --flavor flink --config stack.toml --events-per-sec 50000 --out infra/flink
  advisor generate --flavor engine --config stack.toml --format json   (prints the StackSpec)

The workload flags (or --workload FILE) size the processing service as `advisor cost` does.";

/// What shapes a StackSpec: the flavor, stack.toml, and flags over it.
#[derive(Debug, Args)]
pub struct StackArgs {
    /// Which stack to build.
    #[arg(long, value_enum)]
    pub flavor: Flavor,

    /// stack.toml with the network, Kafka, sizes and tags (see examples/stack.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Name prefix of every resource [default: stack.toml's name, else advisor-FLAVOR].
    #[arg(long)]
    pub name: Option<String>,

    /// AWS region [default: stack.toml's region, else us-east-1].
    #[arg(long)]
    pub region: Option<String>,

    /// CPU architecture of the tasks [default: stack.toml's arch, else x86].
    #[arg(long, value_enum)]
    pub arch: Option<Arch>,

    /// Share of tasks on Fargate Spot, 0 to 1 [default: stack.toml's spot_share, else 0].
    #[arg(long, allow_negative_numbers = true, value_name = "SHARE")]
    pub spot_share: Option<f64>,

    /// Run every task on Fargate Spot: the same as --spot-share 1.
    #[arg(long, conflicts_with = "spot_share")]
    pub spot: bool,
}

impl StackArgs {
    /// The flags that override stack.toml.
    pub fn overrides(&self) -> crate::stack::Overrides {
        crate::stack::Overrides {
            name: self.name.clone(),
            region: self.region.clone(),
            arch: self.arch,
            spot_share: self.spot_share.or(self.spot.then_some(1.0)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenerateFormat {
    /// Terraform files in --out.
    Terraform,
    /// The StackSpec as JSON on stdout; nothing is written.
    Json,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    #[command(flatten)]
    pub sizing: SizingArgs,

    /// Folder to write the Terraform root module into.
    #[arg(long, value_name = "DIR", required_if_eq("format", "terraform"))]
    pub out: Option<PathBuf>,

    /// Overwrite files in --out that differ from what would be written.
    #[arg(long)]
    pub force: bool,

    /// What to produce.
    #[arg(long, value_enum, default_value_t = GenerateFormat::Terraform)]
    pub format: GenerateFormat,
}

const COST_EXAMPLES: &str = "Examples:
  advisor cost --flavor ksqldb --region eu-west-2
  advisor cost --compare --events-per-sec 50000 --event-bytes 300
  advisor cost --flavor flink --arch arm64 --spot --ops-rate 90 -o json
  advisor cost --guide-scenarios";

const REPORT_EXAMPLES: &str = "Examples:
  advisor report --workload examples/workloads.toml --out report/
  advisor report --workload examples/workloads.toml --name order-totals --out report/ --region eu-west-2";

const RECOMMEND_EXAMPLES: &str = "Examples:
  advisor recommend --latency 5s --logic aggregate --business-value-usd 2000
  advisor recommend --latency 500ms --logic pattern --output json
  advisor recommend --workload workloads.toml --name orders
  advisor recommend            (asks the tree's questions in a terminal)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum YesNo {
    Yes,
    No,
}

impl From<YesNo> for bool {
    fn from(value: YesNo) -> bool {
        value == YesNo::Yes
    }
}

/// The workload's answers as flags; each overrides the same field of `--workload`.
#[derive(Debug, Args)]
pub struct WorkloadArgs {
    /// TOML file with the workload's fields; several workloads under [workload.NAME].
    #[arg(long, value_name = "FILE")]
    pub workload: Option<PathBuf>,

    /// Pick one named workload from the file (default: all of them).
    #[arg(
        long,
        visible_alias = "workload-name",
        value_name = "NAME",
        requires = "workload"
    )]
    pub name: Option<String>,

    #[command(flatten)]
    pub fields: WorkloadFields,

    /// AWS region the stack would run in, e.g. eu-west-2.
    #[arg(long)]
    pub region: Option<String>,
}

/// The workload a stack is sized for, in `generate`, `deploy`, `status` and `diff`: the same
/// flags and file as `advisor cost`, so the same command line sizes the same stack.
#[derive(Debug, Args)]
pub struct SizingArgs {
    /// TOML file with the workload's fields (see `advisor cost`); its events_per_sec sizes
    /// the processing service. A file of several workloads needs --workload-name.
    #[arg(long, value_name = "FILE")]
    pub workload: Option<PathBuf>,

    /// Pick one named workload from the file.
    #[arg(long, value_name = "NAME", requires = "workload")]
    pub workload_name: Option<String>,

    #[command(flatten)]
    pub fields: WorkloadFields,
}

/// The workload's fields as flags.
#[derive(Debug, Args)]
pub struct WorkloadFields {
    /// Latency the results need, e.g. 500ms, 2s, 15m, 1h.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub latency: Option<crate::workload::Latency>,

    /// The logic is per-event (filtering, enrichment).
    #[arg(long, conflicts_with = "stateful")]
    pub stateless: bool,

    /// The logic keeps state across events.
    #[arg(long)]
    pub stateful: bool,

    /// Kind of logic; answers the stateless, SQL and complexity questions at once.
    #[arg(long, value_enum)]
    pub logic: Option<LogicKind>,

    /// Is the logic SQL-based (aggregations, joins, windowing)?
    #[arg(long, value_enum, value_name = "yes|no")]
    pub sql_based: Option<YesNo>,

    /// Is the logic complex (CEP, ML, custom state management)?
    #[arg(long, value_enum, value_name = "yes|no")]
    pub complex: Option<YesNo>,

    /// Events per second on the input topics (average); sizes the processing service.
    #[arg(long, allow_negative_numbers = true)]
    pub events_per_sec: Option<f64>,

    /// Average event size in bytes.
    #[arg(long, allow_negative_numbers = true)]
    pub event_bytes: Option<f64>,

    /// Distinct keys (e.g. customers) the logic groups by.
    #[arg(long)]
    pub keys: Option<u64>,

    /// Partitions of the input topics; the engine runs at most one task per partition.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub partitions: Option<u32>,

    /// State the logic keeps, in GB.
    #[arg(long, allow_negative_numbers = true)]
    pub state_gb: Option<f64>,

    /// Monthly value of the lower latency to the business, in US dollars.
    #[arg(long, value_name = "USD", allow_negative_numbers = true)]
    pub business_value_usd: Option<f64>,
}

impl WorkloadFields {
    /// The fields the flags set, to lay over a file's workloads.
    pub fn as_overlay(&self) -> Workload {
        let stateless = match (self.stateless, self.stateful) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        Workload {
            latency: self.latency,
            stateless,
            logic: self.logic,
            sql_based: self.sql_based.map(bool::from),
            complex: self.complex.map(bool::from),
            events_per_sec: self.events_per_sec,
            event_bytes: self.event_bytes,
            keys: self.keys,
            partitions: self.partitions,
            state_gb: self.state_gb,
            business_value_usd: self.business_value_usd,
            ..Workload::default()
        }
    }
}

impl WorkloadArgs {
    /// The fields the flags set, to lay over a file's workloads.
    pub fn as_overlay(&self) -> Workload {
        Workload {
            region: self.region.clone(),
            ..self.fields.as_overlay()
        }
    }
}

/// How estimates are priced; shared by recommend, cost and report.
#[derive(Debug, Args)]
pub struct PricingArgs {
    /// CPU architecture of the Fargate tasks [default: stack.toml's arch, else x86].
    #[arg(long, value_enum)]
    pub arch: Option<Arch>,

    /// stack.toml whose sizes, counts and region to price (as `advisor generate` builds it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Run every task on Fargate Spot: the same as --spot-share 1.
    #[arg(long, conflicts_with = "spot_share")]
    pub spot: bool,

    /// Share of tasks on Fargate Spot, 0 to 1, priced at the catalog's stated discount
    /// [default: stack.toml's spot_share, else 0].
    #[arg(long, allow_negative_numbers = true, value_name = "SHARE")]
    pub spot_share: Option<f64>,

    /// Hours a month the tasks run [default: the catalog's 730].
    #[arg(long, allow_negative_numbers = true)]
    pub hours: Option<f64>,

    /// Hourly rate for ops time in USD [default: the catalog's $60].
    #[arg(long, value_name = "USD", allow_negative_numbers = true)]
    pub ops_rate: Option<f64>,

    /// Hourly rate for development time in USD [default: the catalog's $60].
    #[arg(long, value_name = "USD", allow_negative_numbers = true)]
    pub dev_rate: Option<f64>,

    /// Price catalog to use instead of the embedded one (same format as data/prices.toml).
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,

    /// Usage figures (log volume, retention, checkpoint size, ...) as TOML.
    #[arg(long, value_name = "FILE")]
    pub usage: Option<PathBuf>,

    /// Warn when the catalog is older than this many days [default: the catalog's own limit].
    #[arg(long, value_name = "DAYS")]
    pub max_catalog_age: Option<u32>,
}

#[derive(Debug, Args)]
pub struct CostArgs {
    /// The approach to price.
    #[arg(long, value_enum, required_unless_present_any = ["compare", "guide_scenarios"])]
    pub flavor: Option<Approach>,

    /// Price every approach side by side.
    #[arg(long, conflicts_with_all = ["flavor", "guide_scenarios"])]
    pub compare: bool,

    /// The decision guide's own cost figures beside today's list prices.
    #[arg(long, alias = "page-scenarios", conflicts_with = "flavor")]
    pub guide_scenarios: bool,

    #[command(flatten)]
    pub workload: WorkloadArgs,

    #[command(flatten)]
    pub pricing: PricingArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Folder to write report.md and report.html into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Overwrite report files that already exist in the folder.
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub workload: WorkloadArgs,

    #[command(flatten)]
    pub pricing: PricingArgs,
}

#[derive(Debug, Args)]
pub struct RecommendArgs {
    #[command(flatten)]
    pub workload: WorkloadArgs,

    #[command(flatten)]
    pub pricing: PricingArgs,

    /// Never prompt: a missing answer is an error naming its flag.
    #[arg(long)]
    pub no_input: bool,
}
