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

    /// The signing key: a key name in `.stamp/keys/` or a path to a PKCS#8 PEM file (default:
    /// the key named in `.stamp/keys/default`, else the only key). An encrypted key reads its
    /// passphrase from the file named by $STAMP_KEY_PASSPHRASE_FILE (or $STAMP_KEY_PASSPHRASE)
    #[arg(long, global = true, env = "STAMP_KEY", value_name = "NAME|PATH")]
    pub key: Option<String>,

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
    /// Signing keys and identities: create, list, export the public key, revoke
    ///
    /// Keys are Ed25519, kept as PKCS#8 PEM in `.stamp/keys/NAME.pem` (mode 0600), optionally
    /// passphrase-encrypted. Each key is an identity in the trust file `.stamp/trust.toml`
    /// with roles (builder, approver, deployer, auditor, admin). Adding and revoking keys are
    /// `key.add` / `key.revoke` events in the log. `stamp build` creates a default key with
    /// the builder role the first time it runs without one.
    Key(KeyArgs),
    /// Show or change the trust policy: roles of identities, approvals environments need
    ///
    /// The policy lives in `.stamp/trust.toml` (format in docs/trust.md). Every change made
    /// here is a `policy.change` event; a change made by hand is recorded as one the next time
    /// stamp reads the file.
    Trust(TrustArgs),
    /// Approve an image for an environment, signed by the acting identity
    ///
    /// Signs an approval attestation (DSSE, in-toto statement, predicate
    /// https://stamp.dev/approval/v1), attaches it to the image in the store and records an
    /// `approve` event. Refused (exit 1, and logged as a failed `approve`) when the approver
    /// built the image, lacks a role the environment accepts for approvers, is revoked, or is
    /// not in the trust file (PCI DSS 6.5.4, 6.2.3.1). Prints how many distinct approvers
    /// the environment has and needs.
    Approve(ApproveArgs),
    /// List the attestations attached to an image and verify each
    ///
    /// Verifies every attached DSSE envelope against the trust file and the log order (a
    /// revoked key's signatures count only when recorded before its revocation), and
    /// summarises approvals per environment. Exit 1 when any attestation fails.
    Attestations(AttestationsArgs),
    /// Verify one DSSE attestation envelope against the trust file
    ///
    /// Checks the signature (Ed25519 over the DSSE PAE) against the identities of the trust
    /// file, revocation against the log when one is present, and the in-toto statement and
    /// its predicate strictly. Exit 0 verified, 1 not.
    VerifyAttestation(VerifyAttestationArgs),
    /// The offline vulnerability database: import OSV records, show its status
    ///
    /// `stamp db import PATH...` reads OSV JSON records (directory trees, single files, or
    /// osv.dev's per-ecosystem `all.zip`) into `.stamp/vulndb.db`, replacing the previous
    /// import, and records the digest of the imported set and its snapshot time (the newest
    /// record's `modified`). `stamp db status` shows them and warns when the data is older than
    /// --max-age-days. The import is a `policy.change` event (change `vulndb.import`).
    Db(DbArgs),
    /// Print the SBOM of an image: CycloneDX 1.6 JSON or SPDX 2.3 JSON (PCI DSS 6.3.2)
    ///
    /// Reads the image's layers from the store (nothing is unpacked to disk) and lists every
    /// dpkg, apk, Python, npm and Cargo component with a purl. `--rootfs DIR` reads an
    /// unpacked root filesystem instead. Unreadable package databases are warnings.
    Sbom(SbomArgs),
    /// Check an image's components against the vulnerability database (PCI DSS 6.3.1, 6.3.3)
    ///
    /// Findings name the package, installed and fixed versions, advisory id and aliases,
    /// severity (CVSS v3 base score, else the database's rating) and the database digest.
    /// Every file of every layer (deleted and gzip files included) and the image environment
    /// are scanned for card numbers and secrets (PCI DSS 3.3.1, 3.5.1, 8.6.2), masked.
    /// Exit 1 when a vulnerability is at or above --fail-on, on a card number outside the
    /// published test numbers, or on a secret; approved exceptions (`stamp except`) lift
    /// findings. The verdict is a `gate` event and a signed gate attestation on the image.
    Check(CheckArgs),
    /// Request, approve or list exceptions to the gate of `stamp check`
    ///
    /// `stamp except CODE --image IMAGE|--package NAME --reason TEXT --expires YYYY-MM-DD`
    /// requests one (CODE is a finding code such as `pan-detected`, or an advisory id);
    /// `stamp except approve ID` approves it as a distinct identity of the trust file. Both
    /// are `exception` events; the gate applies approved exceptions until their last day.
    Except(ExceptArgs),
    /// Re-match approved or deployed images against the current vulnerability database
    ///
    /// Every vulnerability not known at the image's last check or rescan is a `rescan` event
    /// with the advisory's published date and fixed version (PCI DSS 6.3.1, 6.3.3); one summary
    /// `rescan` event per image records the run. Images come from successful `approve`,
    /// `promote` and `deploy` events, or are named, or `--all` takes every image in the store.
    /// Exit 1 when a new vulnerability is at or above --fail-on.
    Rescan(RescanArgs),
    /// Run stamp's whole path on the bundled example (examples/payments-api)
    ///
    /// Builds the example's static binary with cargo, builds its image twice to show the
    /// digest is reproducible, unpacks it safely and checks the unpacked tree against the
    /// image's file manifest.
    Demo(DemoArgs),
    /// Compare running instances, or a root filesystem, with the image's file manifest (PCI DSS 11.5.2)
    ///
    /// `stamp drift ENV|INSTANCE` checks each running instance through its own view of its
    /// root (`/proc/PID/root`): the shared read-only bundle as the instance sees it, so host
    /// tampering with the bundle and anything mounted into the instance show; `/proc`, `/dev`
    /// and the writable tmpfs paths are excluded. `stamp drift --path DIR --image IMAGE`
    /// checks a directory.
    /// Reports added, removed and modified files, mode and owner changes, type changes and
    /// symlink retargets, each with a stable code (`drift-added`, `drift-removed`,
    /// `drift-modified`, `drift-mode`, `drift-owner`, `drift-type`, `drift-symlink-target`).
    /// The image's declared writable paths (label `dev.stamp.writable`) are left out and
    /// listed as excluded. Each run is a `drift` event with the counts and the SHA-256 of the
    /// full difference list. Exit 1 when drift is found.
    Drift(DriftArgs),
    /// Deploy an image to an environment by replacing its instances (local runtime: runc)
    ///
    /// Refused (exit 1, and a failed `deploy` event naming the reason) unless the acting
    /// identity (--key) holds one of ENV's `deployer_roles` and is not revoked, the image is not
    /// revoked, has a passing gate verdict (`stamp check`), every attached attestation
    /// verifies, and the environment's required approvals come from distinct identities other
    /// than the builder, each recorded in the log, and, when ENV has `promote_from`, the
    /// digest ran healthy in the source environment and was promoted to ENV (`stamp promote`).
    /// Then starts the new instances (each on its own port, `PORT` in its environment), waits
    /// for each to pass the health check, and stops the old instances one at a time. Events:
    /// instance.start, instance.stop, deploy. IMAGE defaults to what the environment runs now.
    ///
    /// Settings come from the `[env.ENV]` table of stamp.toml (--spec, default ./stamp.toml):
    /// replicas, port or port range, health (`http` path or `command` run inside the instance,
    /// with a timeout), promote_from, approvals (the higher of it and the trust file's count
    /// applies), writable paths. Flags override the table for one run; the deploy event records
    /// the settings used, the table's SHA-256 and the overrides. Roles stay in the trust file.
    Deploy(DeployArgs),
    /// Show environments and their instances: digests, state, health and endpoints
    Status(StatusArgs),
    /// Promote an image to an environment (a `promote` event)
    ///
    /// Refused (exit 1, and a failed `promote` event naming the reason) when the image is
    /// revoked, lacks the approvals ENV requires (counted as `stamp deploy` counts them), or,
    /// when ENV has `promote_from = "SOURCE"` (in the trust file or in `[env.ENV]` of
    /// stamp.toml), never ran healthy in SOURCE (no successful `deploy` or `rollback` of it
    /// there listing instances, each of which passed its health check). `stamp deploy ENV`
    /// takes only promoted digests that ran healthy in SOURCE when ENV has `promote_from`.
    Promote(PromoteArgs),
    /// Redeploy the digest an environment ran before its current one (a `rollback` event)
    Rollback(RollbackArgs),
    /// Stop an environment's running instances, or one instance, recorded in the log
    ///
    /// Needs one of the environment's `deployer_roles` (--key), like `stamp deploy`. Each
    /// instance gets SIGTERM, a grace period, then SIGKILL, is deleted from the runtime and is
    /// recorded as an `instance.stop` event with `decommission: true` and the --reason.
    /// Refused (exit 1, a failed `instance.stop` event naming the reason) without the role or
    /// for an unknown environment or instance. The environment keeps its digests: `stamp
    /// deploy ENV` starts it again.
    Stop(StopArgs),
    /// Revoke an image: every later deploy of it is refused (a `revoke` event)
    Revoke(RevokeArgs),
    /// Export the assessor's evidence pack for a period (PCI DSS requirement index)
    ///
    /// Writes a directory (or, for a path ending in `.tar.gz`, a deterministic archive) with
    /// `index.html`, `evidence.json` (schema in docs/evidence.md), every event of the period
    /// with its inclusion proof, the period's checkpoints with consistency proofs, the
    /// attestations, the trust file, drift runs, `VERIFY.md`, `SHA256SUMS` and `pack.sig.json`
    /// (signed by the acting identity). The export is itself an `evidence.export` event,
    /// recorded before the pack's checkpoint is read, so the pack proves its own export.
    Evidence(EvidenceArgs),
    /// Verify an evidence pack offline with nothing but the public keys
    ///
    /// Checks the signature over SHA256SUMS and every file's digest, that the pack's keys are
    /// the given ones, the checkpoint signatures, every inclusion and consistency proof, that
    /// no entry of the period is missing or out of order, every attestation, and that every
    /// requirement status recomputes from the included events. Exit 0 verified, 1 naming each
    /// failure. Needs no store.
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// Environment (from the trust file: dev, staging, prod, …)
    pub env: String,
    /// Image: `name[:tag]`, `name@sha256:…`, `sha256:…` or a digest prefix of 12+ characters
    pub image: Option<String>,
    /// The stamp.toml whose `[env.ENV]` table gives replicas, ports, health check, promotion
    /// rule, approvals and writable paths (default: ./stamp.toml when it exists)
    #[arg(long, value_name = "PATH")]
    pub spec: Option<std::path::PathBuf>,
    /// Instances to run (overrides `replicas` of `[env.ENV]` for this run; default 1)
    #[arg(long)]
    pub replicas: Option<u32>,
    /// First port instances serve on (127.0.0.1); each instance takes the next free one
    /// (overrides `port` of `[env.ENV]` for this run; default 8080)
    #[arg(long)]
    pub port: Option<u16>,
    /// How long a new instance has to pass its health check (overrides the `timeout` of
    /// `[env.ENV]`'s `health` for this run; default 30000)
    #[arg(long, value_name = "MS")]
    pub health_timeout_ms: Option<u64>,
    /// Replace instances running a revoked image with the newest approved, gated, unrevoked
    /// digest for ENV (nothing happens when none runs a revoked image)
    #[arg(long, conflicts_with = "image")]
    pub replace_revoked: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Only this environment
    pub env: Option<String>,
    /// The vulnerability database the running images' exposure is computed against
    /// (default: `vulndb.db` in the store)
    #[arg(long, env = "STAMP_VULNDB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    /// Image: `name[:tag]`, `name@sha256:…`, `sha256:…` or a digest prefix of 12+ characters
    pub image: String,
    /// Environment to promote to (from the trust file)
    #[arg(long, value_name = "ENV")]
    pub to: String,
    /// The stamp.toml whose `[env.ENV]` may add `promote_from` and `approvals` (default:
    /// ./stamp.toml when it exists)
    #[arg(long, value_name = "PATH")]
    pub spec: Option<std::path::PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// Environment (every running instance of it) or one instance id
    #[arg(value_name = "ENV|INSTANCE")]
    pub target: String,
    /// Why the instances are taken down (recorded in each `instance.stop` event)
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// Environment to roll back
    pub env: String,
    /// The stamp.toml with the `[env.ENV]` table (default: ./stamp.toml when it exists)
    #[arg(long, value_name = "PATH")]
    pub spec: Option<std::path::PathBuf>,
    /// Instances to run (overrides `[env.ENV]` for this run; default 1)
    #[arg(long)]
    pub replicas: Option<u32>,
    /// First port instances serve on (127.0.0.1; overrides `[env.ENV]`; default 8080)
    #[arg(long)]
    pub port: Option<u16>,
    /// How long a new instance has to pass its health check (overrides `[env.ENV]`)
    #[arg(long, value_name = "MS")]
    pub health_timeout_ms: Option<u64>,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct EvidenceArgs {
    /// Only this environment's deploys and instances (default: every environment)
    #[arg(long)]
    pub env: Option<String>,
    /// First day (YYYY-MM-DD, UTC) or time (YYYY-MM-DDTHH:MM:SSZ) of the period
    #[arg(long)]
    pub from: String,
    /// Last day (YYYY-MM-DD, the whole day) or time of the period
    #[arg(long)]
    pub to: String,
    /// Where to write the pack: a new or empty directory, or a file ending in `.tar.gz`
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: PathBuf,
    /// Output format of the summary
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The pack: a directory or a `.tar.gz` written by `stamp evidence`
    pub pack: PathBuf,
    /// Your copy of the public keys: a directory with `trust.toml` and `log.pub`, or a
    /// `trust.toml` with `log.pub` beside it
    #[arg(long, value_name = "KEYS")]
    pub trust: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// Image: `name[:tag]`, `name@sha256:…`, `sha256:…` or a digest prefix of 12+ characters
    pub image: String,
    /// Why (kept in the log)
    #[arg(long)]
    pub reason: String,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct DriftArgs {
    /// An environment (every instance in it) or one instance id
    #[arg(
        value_name = "ENV|INSTANCE",
        required_unless_present = "path",
        conflicts_with = "path"
    )]
    pub target: Option<String>,
    /// The root filesystem directory to check
    #[arg(long, value_name = "DIR", requires = "image")]
    pub path: Option<PathBuf>,
    /// The image the directory must match: `name[:tag]`, `name@sha256:…`, `sha256:…` or a
    /// digest prefix of 12+ characters
    #[arg(long, value_name = "IMAGE", requires = "path")]
    pub image: Option<String>,
    /// Replace each drifted instance: keep its root filesystem as a quarantine tar (digest in
    /// the `drift` event), re-unpack a tampered shared bundle from the verified image, start a
    /// fresh instance with a new id, then stop the drifted one. Nothing is copied back
    #[arg(long, conflicts_with = "path")]
    pub heal: bool,
    /// Run the check every INTERVAL (`30s`, `15m`, `1h`, `1d`; at least 1s), each run a
    /// `drift` event. When starting and before each run, a last recorded run older than
    /// 1.5 × INTERVAL (or 7 days, PCI DSS 11.5.2, whichever is shorter) is recorded as a
    /// `control.failure` event (control `change-detection-schedule`) first
    #[arg(long, value_name = "INTERVAL", value_parser = crate::commands::drift::parse_interval)]
    pub watch: Option<std::time::Duration>,
    /// With --watch: stop after N runs (default: run until stopped)
    #[arg(long, value_name = "N", requires = "watch")]
    pub runs: Option<u64>,
    /// Only check the schedule: exit 1, recording a `control.failure` event (control
    /// `change-detection-schedule`, PCI DSS 11.5.2, 10.7.2), when the last recorded drift run
    /// of the target is older than --max-age or there is none. For cron. Test hook:
    /// `STAMP_NOW_OFFSET_SECONDS` shifts "now" forward for this check only
    #[arg(long, conflicts_with_all = ["watch", "heal"])]
    pub check_schedule: bool,
    /// With --check-schedule: the longest allowed time since the last run (`s`, `m`, `h`, `d`)
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "7d",
        requires = "check_schedule",
        value_parser = crate::commands::drift::parse_duration
    )]
    pub max_age: std::time::Duration,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
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

/// A role of an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Builder,
    Approver,
    Deployer,
    Auditor,
    Admin,
}

#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub command: KeyCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key for an identity and add it to the trust file (a `key.add` event)
    ///
    /// Prints the key id (hex SHA-256 of the public key's SubjectPublicKeyInfo DER). With
    /// --encrypt the private key is PKCS#8 encrypted with scrypt and AES-256-CBC under a
    /// passphrase of 12+ bytes read from --passphrase-file or $STAMP_KEY_PASSPHRASE_FILE.
    New(KeyNewArgs),
    /// Add an identity whose private key lives elsewhere, by its public key (a `key.add` event)
    ///
    /// The public key is a `PUBLIC KEY` PEM (as `openssl pkey -pubout` or `stamp key export`
    /// write it), or base64 of the raw 32-byte Ed25519 key. Its holder signs with
    /// `--key PATH` pointing at their own private key file.
    Add(KeyAddArgs),
    /// List the identities of the trust file with their keys, roles and status
    List(KeyListArgs),
    /// Print an identity's public key (SubjectPublicKeyInfo PEM) to stdout
    Export(KeyExportArgs),
    /// Revoke an identity's key (a `key.revoke` event)
    ///
    /// Signatures recorded in the log before the revocation keep verifying; new signatures by
    /// the key are refused and logged as failures. The private key file moves to
    /// `.stamp/keys/revoked/`, so the name can be given a new key (rotation).
    Revoke(KeyRevokeArgs),
}

#[derive(Debug, clap::Args)]
pub struct KeyNewArgs {
    /// Identity name, e.g. an e-mail address (letters, digits and `._@+-`)
    #[arg(long)]
    pub name: String,
    /// Role of the identity (repeat for several)
    #[arg(long = "role", value_enum, value_name = "ROLE")]
    pub roles: Vec<RoleArg>,
    /// Encrypt the private key with a passphrase
    #[arg(long)]
    pub encrypt: bool,
    /// File holding the passphrase (first line) for --encrypt
    #[arg(long, value_name = "PATH", requires = "encrypt")]
    pub passphrase_file: Option<PathBuf>,
    /// Make this the default key
    #[arg(long = "default")]
    pub make_default: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct KeyAddArgs {
    /// Identity name, e.g. an e-mail address (letters, digits and `._@+-`)
    #[arg(long)]
    pub name: String,
    /// File holding the public key
    #[arg(long, value_name = "PATH")]
    pub public_key: PathBuf,
    /// Role of the identity (repeat for several)
    #[arg(long = "role", value_enum, value_name = "ROLE")]
    pub roles: Vec<RoleArg>,
}

#[derive(Debug, clap::Args)]
pub struct KeyListArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct KeyExportArgs {
    /// Identity name or key id (a prefix of 8+ hex characters will do)
    pub name: String,
}

#[derive(Debug, clap::Args)]
pub struct KeyRevokeArgs {
    /// Identity name or key id (a prefix of 8+ hex characters will do)
    pub name: String,
    /// Why the key is revoked (recorded in the log and the trust file)
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, clap::Args)]
pub struct TrustArgs {
    #[command(subcommand)]
    pub command: TrustCommand,
}

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Print the trust file's environments and identities
    Show(TrustShowArgs),
    /// Add or remove roles of an identity (a `policy.change` event)
    Role(TrustRoleArgs),
    /// Set what an environment requires (a `policy.change` event)
    Env(TrustEnvArgs),
}

#[derive(Debug, clap::Args)]
pub struct TrustShowArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct TrustRoleArgs {
    /// Identity name or key id
    pub name: String,
    /// Role to add (repeat for several)
    #[arg(long, value_enum, value_name = "ROLE")]
    pub add: Vec<RoleArg>,
    /// Role to remove (repeat for several)
    #[arg(long, value_enum, value_name = "ROLE")]
    pub remove: Vec<RoleArg>,
}

#[derive(Debug, clap::Args)]
pub struct TrustEnvArgs {
    /// Environment name (lower-case letters, digits, `-`, `_`)
    pub name: String,
    /// Distinct approvers needed (1-16; default: unchanged, 1 for a new environment)
    #[arg(long)]
    pub approvals: Option<u32>,
    /// Roles that may approve (repeat; replaces the list)
    #[arg(long = "approver-role", value_enum, value_name = "ROLE")]
    pub approver_roles: Vec<RoleArg>,
    /// Roles that may deploy (repeat; replaces the list)
    #[arg(long = "deployer-role", value_enum, value_name = "ROLE")]
    pub deployer_roles: Vec<RoleArg>,
}

#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// Image: `name[:tag]`, `name@sha256:…`, `sha256:…` or a digest prefix of 12+ characters
    pub image: String,
    /// Environment the approval is for (`dev`, `staging`, `prod`, or one of the trust file)
    #[arg(long)]
    pub env: String,
    /// Why it is approved (a change ticket, a review link)
    #[arg(long)]
    pub comment: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct AttestationsArgs {
    /// Image: `name[:tag]`, `name@sha256:…`, `sha256:…` or a digest prefix of 12+ characters
    pub image: String,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct VerifyAttestationArgs {
    /// The DSSE envelope (JSON)
    pub file: PathBuf,
    /// Trust file to verify against (default: the store's `trust.toml`)
    #[arg(long, value_name = "PATH")]
    pub trust: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Import OSV records into a new vulnerability database (replaces the old one)
    Import(DbImportArgs),
    /// Show the database's digest, snapshot time and counts; warn when it is stale
    Status(DbStatusArgs),
    /// Compare versions as the matcher does: reads `a b` lines, prints -1, 0, 1 or ERR
    ///
    /// SCHEME is `deb`, `pep440`, `npm`, `cargo` or `apk` (or an OSV ecosystem name such as
    /// `Debian`, `PyPI`, `crates.io`, `Alpine`). ERR means a version is invalid in the scheme.
    CompareVersions(DbCompareVersionsArgs),
}

#[derive(Debug, clap::Args)]
pub struct DbImportArgs {
    /// OSV record files, directories of them, or `all.zip` exports
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The vulnerability database file (default: `vulndb.db` in the store)
    #[arg(long, env = "STAMP_VULNDB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Snapshot time to record (RFC 3339; default: the newest `modified` of any record)
    #[arg(long, value_name = "TIME")]
    pub snapshot_time: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct DbStatusArgs {
    /// The vulnerability database file (default: `vulndb.db` in the store)
    #[arg(long, env = "STAMP_VULNDB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Warn when the snapshot is older than this many days
    #[arg(
        long,
        env = "STAMP_VULNDB_MAX_AGE_DAYS",
        value_name = "DAYS",
        default_value_t = 7
    )]
    pub max_age_days: u32,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct DbCompareVersionsArgs {
    /// Version scheme: deb, pep440, npm, cargo or apk
    pub scheme: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SbomFormat {
    Cyclonedx,
    Spdx,
}

#[derive(Debug, clap::Args)]
pub struct SbomArgs {
    /// Image: `name[:tag]`, `name@sha256:…`, `sha256:…` or a digest prefix of 12+ characters
    #[arg(required_unless_present = "rootfs")]
    pub image: Option<String>,
    /// Read an unpacked root filesystem directory instead of an image
    #[arg(long, value_name = "DIR", conflicts_with = "image")]
    pub rootfs: Option<PathBuf>,
    /// SBOM format
    #[arg(long, value_enum, default_value_t = SbomFormat::Cyclonedx)]
    pub format: SbomFormat,
    /// Also sign the SBOM (in-toto statement in a DSSE envelope, predicate type
    /// `https://cyclonedx.org/bom` or `https://spdx.dev/Document`) with the acting key (role
    /// builder or auditor) and attach it to the image; recorded as an `attest` event
    #[arg(long, conflicts_with = "rootfs")]
    pub attach: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Table,
    Json,
    Sarif,
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ExceptArgs {
    #[command(subcommand)]
    pub command: Option<ExceptCommand>,
    /// The finding code (`pan-test-number`, `secret-password`, …) or advisory id excepted
    #[arg(required = true)]
    pub code: Option<String>,
    /// The image the exception is for: `name[:tag]`, `sha256:…` or a digest prefix
    #[arg(
        long,
        value_name = "IMAGE",
        conflicts_with = "package",
        required_unless_present = "package"
    )]
    pub image: Option<String>,
    /// The package the exception is for, in any image
    #[arg(long, value_name = "NAME")]
    pub package: Option<String>,
    /// Why the finding is accepted (a risk assessment, a ticket)
    #[arg(long, required = true)]
    pub reason: Option<String>,
    /// The last day (UTC) the exception applies: YYYY-MM-DD
    #[arg(long, value_name = "YYYY-MM-DD", required = true)]
    pub expires: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text, global = true)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Subcommand)]
pub enum ExceptCommand {
    /// Approve a requested exception (as an identity other than the requester)
    Approve {
        /// The exception id printed by the request
        id: String,
    },
    /// List exceptions and whether each is active, unapproved or expired
    List,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Image: `name[:tag]`, `name@sha256:…`, `sha256:…` or a digest prefix of 12+ characters
    #[arg(required_unless_present = "rootfs")]
    pub image: Option<String>,
    /// Read an unpacked root filesystem directory instead of an image (no gate event)
    #[arg(long, value_name = "DIR", conflicts_with = "image")]
    pub rootfs: Option<PathBuf>,
    /// The vulnerability database file (default: `vulndb.db` in the store)
    #[arg(long, env = "STAMP_VULNDB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Deny (exit 1) when a vulnerability has this severity or higher: critical, high,
    /// medium, low, none, or unknown (any vulnerability)
    #[arg(long, default_value = "high", value_name = "SEVERITY")]
    pub fail_on: String,
    /// Warn when the database snapshot is older than this many days
    #[arg(
        long,
        env = "STAMP_VULNDB_MAX_AGE_DAYS",
        value_name = "DAYS",
        default_value_t = 7
    )]
    pub max_age_days: u32,
    /// Output format
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
    /// The stamp.toml whose `[check]` table names user Rego rules (`policies`) and the audit
    /// threshold (`audit_fail_on`); default: `./stamp.toml` when it exists
    #[arg(long, value_name = "PATH")]
    pub spec: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RescanArgs {
    /// Images to rescan (default: every approved, promoted or deployed image in the log)
    #[arg(value_name = "IMAGE", conflicts_with = "all")]
    pub images: Vec<String>,
    /// Rescan every image in the store
    #[arg(long)]
    pub all: bool,
    /// The vulnerability database file (default: `vulndb.db` in the store)
    #[arg(long, env = "STAMP_VULNDB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Exit 1 when a new vulnerability has this severity or higher
    #[arg(long, default_value = "high", value_name = "SEVERITY")]
    pub fail_on: String,
    /// Warn when the database snapshot is older than this many days
    #[arg(
        long,
        env = "STAMP_VULNDB_MAX_AGE_DAYS",
        value_name = "DAYS",
        default_value_t = 7
    )]
    pub max_age_days: u32,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}
