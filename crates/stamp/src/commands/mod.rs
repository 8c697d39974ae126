//! One module per subcommand; each takes resolved arguments, calls a library and renders.

mod build;
mod demo;
mod images;
mod init;
mod log;
mod manifest;
mod unpack;

use stamp_image::build::BuildError;
use stamp_image::spec::LoadSpecError;
use stamp_image::store::StoreError;
use stamp_image::unpack::UnpackError;

use crate::cli::{Cli, Command};

/// Run the parsed command line; `Ok` carries the exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    let home = cli.home.as_deref();
    match cli.command {
        Command::Build(args) => build::run(home, args),
        Command::Manifest(args) => manifest::run(home, args),
        Command::Unpack(args) => unpack::run(home, args),
        Command::Images(args) => images::run(home, args),
        Command::Demo(args) => demo::run(args),
        Command::Init(args) => init::run(home, args),
        Command::Log(args) => log::run(home, args),
    }
}

/// 1 when stamp refused content or a check failed, 2 for usage and configuration errors,
/// 3 for everything else (I/O, environment).
pub fn exit_code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if let Some(error) = cause.downcast_ref::<LoadSpecError>() {
            return match error {
                LoadSpecError::Invalid(_) | LoadSpecError::TooLarge { .. } => 2,
                LoadSpecError::Read { .. } => 2,
            };
        }
        if cause
            .downcast_ref::<stamp_image::spec::SpecError>()
            .is_some()
        {
            return 2;
        }
        if let Some(error) = cause.downcast_ref::<BuildError>() {
            match error {
                BuildError::NoSourceDate { .. }
                | BuildError::BadSourceDateEnv(_)
                | BuildError::Input { .. }
                | BuildError::InputType { .. }
                | BuildError::DuplicatePath { .. }
                | BuildError::BelowNonDirectory { .. }
                | BuildError::TooManyEntries { .. } => return 2,
                BuildError::BaseDigestMismatch { .. }
                | BuildError::BaseImage { .. }
                | BuildError::BaseLayer { .. } => return 1,
                _ => {}
            }
        }
        if let Some(error) = cause.downcast_ref::<UnpackError>() {
            match error {
                UnpackError::DestinationNotEmpty(_) => return 2,
                UnpackError::Entry { .. }
                | UnpackError::Tar { .. }
                | UnpackError::LayerTooLarge { .. }
                | UnpackError::DiffId { .. }
                | UnpackError::MediaType { .. }
                | UnpackError::LayerCount { .. } => return 1,
                _ => {}
            }
        }
        if let Some(error) = cause.downcast_ref::<StoreError>() {
            match error {
                StoreError::UnknownImage(_)
                | StoreError::AmbiguousImage { .. }
                | StoreError::Missing(_) => return 2,
                StoreError::BlobCorrupt { .. } => return 1,
                _ => {}
            }
        }
        if cause.downcast_ref::<UsageError>().is_some() {
            return 2;
        }
        if let Some(error) = cause.downcast_ref::<stamp_log::OpenLogError>() {
            return match error {
                stamp_log::OpenLogError::NotFound { .. } => 2,
                _ => 1,
            };
        }
        if cause
            .downcast_ref::<stamp_log::ReadKeyFileError>()
            .is_some()
        {
            return 2;
        }
    }
    3
}

/// A fix the user can apply, when one is known.
pub fn hint(error: &anyhow::Error) -> Option<String> {
    for cause in error.chain() {
        if let Some(error) = cause.downcast_ref::<stamp_image::spec::SpecError>() {
            return error.hint.clone();
        }
        if let Some(LoadSpecError::Invalid(error)) = cause.downcast_ref::<LoadSpecError>() {
            return error.hint.clone();
        }
        if let Some(LoadSpecError::Read { .. }) = cause.downcast_ref::<LoadSpecError>() {
            return Some(
                "pass the spec with `--spec PATH`, or run stamp where stamp.toml is".into(),
            );
        }
        if let Some(BuildError::BelowNonDirectory { .. }) = cause.downcast_ref::<BuildError>() {
            return Some(
                "give the real path (where the symlink points), or remove the entry that is in the way"
                    .into(),
            );
        }
        if let Some(BuildError::NoSourceDate { .. }) = cause.downcast_ref::<BuildError>() {
            return Some(
                "commit the spec to git, set `source_date_epoch` under [image], or export SOURCE_DATE_EPOCH"
                    .into(),
            );
        }
        if let Some(error) = cause.downcast_ref::<StoreError>() {
            match error {
                StoreError::Missing(_) => {
                    return Some(
                        "build an image first with `stamp build`, or point --home at a store"
                            .into(),
                    )
                }
                StoreError::UnknownImage(_) => {
                    return Some("`stamp images` lists what the store holds".into())
                }
                _ => {}
            }
        }
        if let Some(stamp_log::OpenLogError::NotFound { .. }) =
            cause.downcast_ref::<stamp_log::OpenLogError>()
        {
            return Some(
                "run `stamp init` (or any build) to create the log, or point --home at a store"
                    .into(),
            );
        }
        if let Some(UnpackError::DestinationNotEmpty(_)) = cause.downcast_ref::<UnpackError>() {
            return Some("unpack into a new directory".into());
        }
    }
    None
}

/// A usage error found by a command after parsing.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}
