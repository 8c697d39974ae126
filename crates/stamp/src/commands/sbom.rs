//! `stamp sbom`: the inventory of an image (or a root filesystem directory) as CycloneDX 1.6
//! or SPDX 2.3 JSON on stdout.

use std::path::Path;

use anyhow::Context;
use stamp_image::Store;
use stamp_scan::inventory::{self, Files, Inventory};
use stamp_scan::osv::import::format_time;
use stamp_scan::sbom::{cyclonedx, spdx, Subject};
use time::OffsetDateTime;

use stamp_attest::facts::detail;
use stamp_attest::policy::check_signer;
use stamp_attest::statement::ResourceDescriptor;
use stamp_attest::{Role, Statement};
use stamp_core::event::{EventKind, Outcome};

use super::signing::{
    load_acting_key, load_trust_recorded, read_facts, refuse, sign_and_attach, Signer,
};
use super::UsageError;
use crate::cli::{SbomArgs, SbomFormat};
use crate::recorder::Recorder;

/// in-toto predicate type of a CycloneDX SBOM (as the in-toto attestation framework names it).
pub const PREDICATE_TYPE_CYCLONEDX: &str = "https://cyclonedx.org/bom";
/// in-toto predicate type of an SPDX document.
pub const PREDICATE_TYPE_SPDX: &str = "https://spdx.dev/Document";

/// Sign `document` as an in-toto statement about `image` with the acting key and attach it to
/// the image; the signer must be a builder or an auditor. Returns the log index of the
/// `attest` event. A refused signer is recorded as a failed `attest` event.
fn attach_sbom(
    home: Option<&Path>,
    key: Option<&str>,
    reference: &str,
    document: &serde_json::Value,
    predicate_type: &str,
) -> anyhow::Result<u64> {
    let home = crate::settings::home(home, None);
    let store = Store::open(&home)?;
    let image = store.resolve(reference)?;
    let mut recorder = Recorder::open(&home)?;
    let mut facts = read_facts(&recorder.log)?;
    let trust = load_trust_recorded(&home, &mut recorder, &mut facts)?;
    let (identity_key, _) = load_acting_key(&home, key)?;
    let identity = trust.by_key_id(identity_key.key_id()).cloned();
    if let Some(identity) = &identity {
        recorder.set_actor(&identity.name);
    }
    let subject = image.digest.to_string();
    if let Err(refusal) = check_signer(
        identity.as_ref(),
        identity_key.key_id(),
        &facts.key_revocations,
        &[Role::Builder, Role::Auditor].into(),
        "attach an SBOM",
    ) {
        refuse(
            &mut recorder,
            EventKind::Attest,
            &subject,
            &refusal,
            identity_key.key_id(),
            None,
        )?;
        return Err(refusal.into());
    }
    let signer = Signer {
        key: identity_key,
        identity: identity.expect("check_signer refuses an unknown key"),
    };
    let statement = Statement::new(
        vec![ResourceDescriptor::sha256(
            image.reference.clone().unwrap_or_else(|| subject.clone()),
            &image.digest,
        )],
        predicate_type,
        document,
    );
    let signed = sign_and_attach(&store, &image.digest, &statement, &signer)?;
    let event = recorder
        .event(EventKind::Attest, Outcome::Success, &subject)
        .detail("predicate_type", predicate_type)
        .detail(detail::SIGNER, signer.detail())
        .detail(detail::ATTESTATION, signed.detail())
        .reference(image.digest)
        .reference(signed.referrer.manifest)
        .reference(signed.referrer.envelope);
    recorder.append(event)
}

/// Read the inventory of `image` from the store, or of the directory `rootfs`.
pub fn load(
    home: Option<&Path>,
    image: Option<&str>,
    rootfs: Option<&Path>,
) -> anyhow::Result<(Subject, Inventory)> {
    match (image, rootfs) {
        (Some(reference), None) => {
            let home = crate::settings::home(home, None);
            let store = Store::open(&home)
                .with_context(|| format!("opening the store at `{}`", home.display()))?;
            let image = store.resolve(reference)?;
            let manifest = store.read_manifest(&image.digest)?;
            let config = store.read_config(&manifest.config.digest)?;
            let files = Files::from_image(&store, &image.digest)
                .with_context(|| format!("reading the layers of {}", image.digest))?;
            let subject = Subject {
                name: image
                    .reference
                    .clone()
                    .unwrap_or_else(|| image.digest.to_string()),
                digest: image.digest.to_string(),
                created: config
                    .created
                    .clone()
                    .unwrap_or_else(|| format_time(OffsetDateTime::UNIX_EPOCH)),
            };
            Ok((subject, inventory::inventory(&files)))
        }
        (None, Some(root)) => {
            let files = Files::from_directory(root)
                .with_context(|| format!("reading the root filesystem `{}`", root.display()))?;
            let absolute = std::fs::canonicalize(root).unwrap_or(root.to_path_buf());
            let name = absolute.display().to_string();
            let subject = Subject {
                digest: format!("sha256:{}", stamp_core::Digest::of(name.as_bytes()).hex()),
                name,
                created: format_time(OffsetDateTime::now_utc()),
            };
            Ok((subject, inventory::inventory(&files)))
        }
        _ => Err(UsageError("give an image or `--rootfs DIR`, not both".into()).into()),
    }
}

/// Print inventory problems to stderr (partial errors: the SBOM is still written).
pub fn warn_problems(inventory: &Inventory) {
    for problem in &inventory.problems {
        eprintln!("warning: `{}`: {}", problem.path, problem.message);
    }
}

pub fn run(home: Option<&Path>, key: Option<&str>, args: SbomArgs) -> anyhow::Result<u8> {
    let (subject, inventory) = load(home, args.image.as_deref(), args.rootfs.as_deref())?;
    warn_problems(&inventory);
    let (document, predicate_type) = match args.format {
        SbomFormat::Cyclonedx => (
            cyclonedx::document(&subject, &inventory),
            PREDICATE_TYPE_CYCLONEDX,
        ),
        SbomFormat::Spdx => (spdx::document(&subject, &inventory), PREDICATE_TYPE_SPDX),
    };
    if args.attach {
        let image = args
            .image
            .as_deref()
            .ok_or_else(|| UsageError("--attach needs an image".into()))?;
        let index = attach_sbom(home, key, image, &document, predicate_type)?;
        eprintln!(
            "signed SBOM attached to {} (log index {index})",
            subject.digest
        );
    }
    println!("{}", serde_json::to_string_pretty(&document)?);
    eprintln!(
        "{} components in {}",
        inventory.components.len(),
        subject.name
    );
    Ok(0)
}
