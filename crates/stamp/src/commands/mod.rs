//! One module per subcommand; each takes resolved arguments, calls a library and renders.

mod approve;
mod attestations;
mod build;
mod check;
mod db;
mod demo;
mod deploy;
pub(crate) mod drift;
mod evidence;
mod except;
mod exposure;
mod gate;
mod images;
mod init;
mod key;
mod log;
mod manifest;
mod promote;
mod rescan;
mod revoke;
mod rollback;
mod sbom;
mod signing;
mod status;
mod stop;
mod trust;
mod unpack;
mod verify_attestation;
mod verify_pack;

use stamp_image::build::BuildError;
use stamp_image::spec::LoadSpecError;
use stamp_image::store::StoreError;
use stamp_image::unpack::UnpackError;

use crate::cli::{Cli, Command};

/// Run the parsed command line; `Ok` carries the exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    let home = cli.home.as_deref();
    let key = cli.key.as_deref();
    match cli.command {
        Command::Build(args) => build::run(home, key, args),
        Command::Key(args) => key::run(home, key, args),
        Command::Trust(args) => trust::run(home, key, args),
        Command::Approve(args) => approve::run(home, key, args),
        Command::Attestations(args) => attestations::run(home, args),
        Command::VerifyAttestation(args) => verify_attestation::run(home, args),
        Command::Manifest(args) => manifest::run(home, args),
        Command::Unpack(args) => unpack::run(home, args),
        Command::Images(args) => images::run(home, args),
        Command::Db(args) => db::run(home, args),
        Command::Sbom(args) => sbom::run(home, key, args),
        Command::Check(args) => check::run(home, key, args),
        Command::Except(args) => except::run(home, key, args),
        Command::Rescan(args) => rescan::run(home, args),
        Command::Demo(args) => demo::run(args),
        Command::Drift(args) => drift::run(home, args),
        Command::Deploy(args) => deploy::run(home, key, args),
        Command::Status(args) => status::run(home, args),
        Command::Promote(args) => promote::run(home, key, args),
        Command::Rollback(args) => rollback::run(home, key, args),
        Command::Stop(args) => stop::run(home, key, args),
        Command::Revoke(args) => revoke::run(home, args),
        Command::Evidence(args) => evidence::run(home, key, args),
        Command::Verify(args) => verify_pack::run(args),
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
                | BuildError::RemoveMissing { .. }
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
                | UnpackError::LayerCount { .. } => return 1,
                _ => {}
            }
        }
        if let Some(error) = cause.downcast_ref::<StoreError>() {
            match error {
                StoreError::UnknownImage(_)
                | StoreError::AmbiguousImage { .. }
                | StoreError::Missing(_) => return 2,
                StoreError::BlobCorrupt { .. } | StoreError::LayerMediaType { .. } => return 1,
                _ => {}
            }
        }
        if let Some(code) = scan_exit_code(cause) {
            return code;
        }
        if cause.downcast_ref::<UsageError>().is_some() {
            return 2;
        }
        // A signing rule said no, or an attestation did not verify.
        if cause.downcast_ref::<stamp_attest::Refusal>().is_some()
            || cause
                .downcast_ref::<stamp_attest::VerifyAttestationError>()
                .is_some()
        {
            return 1;
        }
        // Keys and the trust file are configuration.
        if cause
            .downcast_ref::<stamp_attest::keyring::ResolveKeyError>()
            .is_some()
            || cause
                .downcast_ref::<stamp_attest::keyring::KeyRingError>()
                .is_some()
            || cause
                .downcast_ref::<stamp_attest::trust::TrustChangeError>()
                .is_some()
        {
            return 2;
        }
        if let Some(error) = cause.downcast_ref::<stamp_attest::keys::ReadKeyError>() {
            return match error {
                stamp_attest::keys::ReadKeyError::Io { .. } => 3,
                _ => 2,
            };
        }
        if let Some(error) = cause.downcast_ref::<stamp_attest::trust::LoadTrustError>() {
            return match error {
                stamp_attest::trust::LoadTrustError::Parse { .. }
                | stamp_attest::trust::LoadTrustError::TooLarge { .. } => 2,
                _ => 3,
            };
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
        if let Some(stamp_scan::osv::db::OpenDbError::NotFound(_)) =
            cause.downcast_ref::<stamp_scan::osv::db::OpenDbError>()
        {
            return Some(
                "import OSV records first with `stamp db import PATH` (a directory of OSV JSON or an osv.dev all.zip)"
                    .into(),
            );
        }
        if let Some(UnpackError::DestinationNotEmpty(_)) = cause.downcast_ref::<UnpackError>() {
            return Some("unpack into a new directory".into());
        }
        if let Some(hint) = signing_hint(cause) {
            return Some(hint);
        }
    }
    None
}

/// Hints for key, trust and separation-of-duties errors.
fn signing_hint(cause: &(dyn std::error::Error + 'static)) -> Option<String> {
    use stamp_attest::keyring::ResolveKeyError;
    use stamp_attest::keys::ReadKeyError;
    use stamp_attest::Refusal;
    if let Some(error) = cause.downcast_ref::<Refusal>() {
        return Some(match error {
            Refusal::ApproverIsBuilder { .. } => {
                "another identity must approve: `stamp approve IMAGE --env ENV --key NAME`".into()
            }
            Refusal::MissingRole { name, .. } => {
                format!(
                    "`stamp trust role {name} --add ROLE` grants a role (a policy.change event)"
                )
            }
            Refusal::Revoked { .. } => {
                "sign with another key, or give the identity a new one with `stamp key new`".into()
            }
            Refusal::UnknownKey { .. } => {
                "create identities with `stamp key new --name NAME --role ROLE`".into()
            }
            Refusal::NoBuildRecord { .. } => {
                "build the image with `stamp build` so its builder is on record".into()
            }
        });
    }
    if let Some(error) = cause.downcast_ref::<ResolveKeyError>() {
        return match error {
            ResolveKeyError::NoKeys { .. } | ResolveKeyError::UnknownName { .. } => Some(
                "`stamp key list` shows identities; `stamp key new --name NAME --role ROLE` adds one"
                    .into(),
            ),
            ResolveKeyError::Ambiguous { .. } => Some(
                "name the key with `--key NAME` or $STAMP_KEY, or make one the default with `stamp key new --default`"
                    .into(),
            ),
            _ => None,
        };
    }
    if let Some(ReadKeyError::PassphraseNeeded { .. } | ReadKeyError::Decrypt { .. }) =
        cause.downcast_ref::<ReadKeyError>()
    {
        return Some(
            "put the passphrase in a file (mode 0600) and set STAMP_KEY_PASSPHRASE_FILE to its path"
                .into(),
        );
    }
    if let Some(ReadKeyError::Permissions { path, .. }) = cause.downcast_ref::<ReadKeyError>() {
        return Some(format!("`chmod 600 {}`", path.display()));
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

/// Exit codes of the vulnerability database, inventory and matching errors.
fn scan_exit_code(cause: &(dyn std::error::Error + 'static)) -> Option<u8> {
    use stamp_scan::inventory::files::ReadFilesError;
    use stamp_scan::osv::db::OpenDbError;
    use stamp_scan::osv::import::ImportError;
    if let Some(error) = cause.downcast_ref::<OpenDbError>() {
        return Some(match error {
            OpenDbError::NotFound(_) | OpenDbError::Schema { .. } => 2,
            _ => 3,
        });
    }
    if let Some(error) = cause.downcast_ref::<ImportError>() {
        return Some(match error {
            ImportError::Read { .. } | ImportError::Empty(_) => 2,
            ImportError::Zip { .. }
            | ImportError::ZipTooManyEntries { .. }
            | ImportError::ZipTooLarge { .. }
            | ImportError::TooManyRecords { .. } => 1,
            _ => 3,
        });
    }
    if let Some(error) = cause.downcast_ref::<ReadFilesError>() {
        return Some(match error {
            ReadFilesError::Store(StoreError::UnknownImage(_))
            | ReadFilesError::Store(StoreError::AmbiguousImage { .. })
            | ReadFilesError::Store(StoreError::Missing(_)) => 2,
            ReadFilesError::Store(StoreError::BlobCorrupt { .. })
            | ReadFilesError::Store(StoreError::LayerMediaType { .. })
            | ReadFilesError::Tar { .. }
            | ReadFilesError::Entry { .. } => 1,
            ReadFilesError::Directory { .. } => 2,
            _ => 3,
        });
    }
    None
}
