//! Command-line arguments. Only clap structs live here; `commands/` runs them.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// stamp: immutable infrastructure a PCI DSS assessor can verify.
///
/// Turns a spec kept in source control (stamp.toml) into a reproducible OCI image, records
/// every change, deploys only by replacement and hands the assessor evidence they can check
/// offline. State lives in `.stamp/` beside stamp.toml (or in $STAMP_HOME).
#[derive(Debug, Parser)]
#[command(
    name = "stamp",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The store directory (default: `.stamp` beside stamp.toml)
    #[arg(long, global = true, env = "STAMP_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the store: the OCI layout, the log and its signing key
    ///
    /// Makes `.stamp/` with an empty OCI image layout, the log database `stamp.db`, the log
    /// key `log.key` (mode 0600, Ed25519) and `log.pub`, the verifier key in the signed-note
    /// format (`name+hash+base64`) that anyone checking checkpoints needs. The first entry of
    /// the log is a `log.init` event. Commands that change state create the store on first use
    /// too; running init again only prints what is there.
    Init(InitArgs),
    /// The tamper-evident log: show events, prove inclusion and consistency, verify, replay
    Log(LogArgs),
    /// Build the image a stamp.toml describes into the local OCI store
    ///
    /// The image digest depends only on the spec, the input files' contents and the pinned
    /// base: entries are sorted, times are `source_date_epoch` (stamp.toml, else
    /// $SOURCE_DATE_EPOCH, else the last git commit time), owners and modes come from the spec.
    /// The image is tagged `name:tag` in `.stamp/oci` and its file manifest is kept beside it.
    Build(BuildArgs),
    /// Print the file manifest of an image: every path with type, mode, owner, size and sha256
    ///
    /// `--format mtree` writes an mtree(5) specification that `mtree -f SPEC -p DIR` checks
    /// against an unpacked copy of the image.
    Manifest(ManifestArgs),
    /// Extract an image into a directory, safely
    ///
    /// Applies layers in order with whiteouts. Refuses absolute paths, `..`, writing through
    /// symlinks, hard links outside the image, device nodes (unless --allow-devices), and
    /// sizes past the limits. Nothing is ever written outside DIR. DIR must be new or empty.
    Unpack(UnpackArgs),
    /// List the images in the store
    Images(ImagesArgs),
    /// Run stamp's whole path on the bundled example (examples/payments-api)
    ///
    /// Builds the example's static binary with cargo, builds its image twice to show the
    /// digest is reproducible, unpacks it safely and checks the unpacked tree against the
    /// image's file manifest.
    Demo(DemoArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ManifestFormat {
    Json,
    Mtree,
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The image spec
    #[arg(long, short = 's', value_name = "PATH", default_value = "stamp.toml")]
    pub spec: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct ManifestArgs {
    /// Image: `name[:tag]`, `name@sha256:…`, `sha256:…` or a digest prefix of 12+ characters
    pub image: String,
    /// Output format
    #[arg(long, value_enum, default_value_t = ManifestFormat::Json)]
    pub format: ManifestFormat,
}

#[derive(Debug, clap::Args)]
pub struct UnpackArgs {
    /// Image: `name[:tag]`, `name@sha256:…`, `sha256:…` or a digest prefix of 12+ characters
    pub image: String,
    /// Destination directory (created; must be empty if it exists)
    pub dir: PathBuf,
    /// Create character and block device nodes instead of refusing them
    #[arg(long)]
    pub allow_devices: bool,
    /// Most bytes one layer may expand to, uncompressed
    #[arg(long, value_name = "BYTES", default_value_t = 32 << 30)]
    pub max_layer_bytes: u64,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct ImagesArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The example directory (default: examples/payments-api of this source tree)
    #[arg(long, value_name = "DIR")]
    pub example: Option<PathBuf>,
    /// Where the demo keeps its store and unpacked files (default: target/stamp-demo)
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct LogArgs {
    #[command(subcommand)]
    pub command: LogCommand,
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Print events, oldest first (reading them is itself logged, PCI DSS 10.2.1.3)
    Show(LogShowArgs),
    /// Print an inclusion proof (`--index`) or a consistency proof (`--from`, `--to`) as JSON
    ///
    /// The JSON has exactly the fields Go's `sumdb/tlog` checkers take: for inclusion
    /// `leaf_index`, `tree_size`, `leaf_hash`, `root_hash`, `proof`; for consistency
    /// `old_size`, `old_root`, `new_size`, `new_root`, `proof` (hashes in hex, RFC 9162 order).
    Prove(LogProveArgs),
    /// Recompute and check the whole log; exit 1 naming the first bad index
    ///
    /// Recomputes every leaf hash from the stored event bytes and every interior hash, checks
    /// every stored checkpoint's signature and root, consistency between successive
    /// checkpoints, and that no entry is missing past the newest checkpoint. Each run is
    /// recorded as a `log.verify` event (PCI DSS 10.3.4).
    Verify(LogVerifyArgs),
    /// Print the latest signed checkpoint (C2SP tlog-checkpoint in a signed note)
    Checkpoint,
    /// Rebuild the projection tables (images, environments, instances, approvals,
    /// revocations) from the log alone and check they come out identical
    Replay(LogReplayArgs),
}

#[derive(Debug, clap::Args)]
pub struct LogShowArgs {
    /// Only events of this kind (`build`, `deploy`, `instance.start`, …)
    #[arg(long)]
    pub kind: Option<String>,
    /// Only events about this subject (image digest, instance id, environment)
    #[arg(long)]
    pub subject: Option<String>,
    /// Only events at or after this time (RFC 3339, e.g. 2026-01-31T00:00:00Z)
    #[arg(long)]
    pub since: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct LogProveArgs {
    /// Prove that the entry at this index is in the log
    #[arg(long, conflicts_with_all = ["from", "to"], required_unless_present = "from")]
    pub index: Option<u64>,
    /// Tree size to prove against (default: the current size)
    #[arg(long, requires = "index")]
    pub size: Option<u64>,
    /// Prove that the log at this size is a prefix of the log at `--to`
    #[arg(long, requires = "to")]
    pub from: Option<u64>,
    /// The later size (default with --from: required)
    #[arg(long, requires = "from")]
    pub to: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct LogVerifyArgs {
    /// Verifier key (`name+hash+base64`) to check checkpoints with (default: the store's own
    /// log.pub; an assessor passes the key they were given)
    #[arg(long, value_name = "KEY")]
    pub verifier: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct LogReplayArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}
