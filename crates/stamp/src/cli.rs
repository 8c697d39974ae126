//! Command-line arguments. Only clap structs live here; `commands/` runs them.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// stamp: immutable infrastructure a PCI DSS assessor can verify.
///
/// Turns a spec kept in source control (stamp.toml) into a reproducible OCI image, records
/// every change, deploys only by replacement and hands the assessor evidence they can check
/// offline. State lives in `.stamp/` beside stamp.toml (or in $STAMP_HOME).
#[derive(Debug, Parser)]
#[command(name = "stamp", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// The store directory (default: `.stamp` beside stamp.toml)
    #[arg(long, global = true, env = "STAMP_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
