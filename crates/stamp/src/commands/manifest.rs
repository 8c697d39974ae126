//! `stamp manifest`

use std::path::Path;

use anyhow::Context;
use stamp_image::Store;

use crate::cli::{ManifestArgs, ManifestFormat};

pub fn run(home: Option<&Path>, args: ManifestArgs) -> anyhow::Result<u8> {
    let home = crate::settings::home(home, None);
    let store =
        Store::open(&home).with_context(|| format!("opening the store at `{}`", home.display()))?;
    let image = store.resolve(&args.image)?;
    let manifest = store
        .file_manifest(&image.digest)
        .with_context(|| format!("reading the file manifest of {}", image.digest))?;
    match args.format {
        ManifestFormat::Json => println!("{}", serde_json::to_string_pretty(&manifest)?),
        ManifestFormat::Mtree => print!("{}", manifest.to_mtree()),
    }
    Ok(0)
}
