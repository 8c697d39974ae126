//! `stamp sbom`: the inventory of an image (or a root filesystem directory) as CycloneDX 1.6
//! or SPDX 2.3 JSON on stdout.

use std::path::Path;

use anyhow::Context;
use stamp_image::Store;
use stamp_scan::inventory::{self, Files, Inventory};
use stamp_scan::osv::import::format_time;
use stamp_scan::sbom::{cyclonedx, spdx, Subject};
use time::OffsetDateTime;

use super::UsageError;
use crate::cli::{SbomArgs, SbomFormat};

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

pub fn run(home: Option<&Path>, args: SbomArgs) -> anyhow::Result<u8> {
    let (subject, inventory) = load(home, args.image.as_deref(), args.rootfs.as_deref())?;
    warn_problems(&inventory);
    let document = match args.format {
        SbomFormat::Cyclonedx => cyclonedx::document(&subject, &inventory),
        SbomFormat::Spdx => spdx::document(&subject, &inventory),
    };
    println!("{}", serde_json::to_string_pretty(&document)?);
    eprintln!(
        "{} components in {}",
        inventory.components.len(),
        subject.name
    );
    Ok(0)
}
