//! `stamp images`

use std::path::Path;

use anyhow::Context;
use stamp_image::Store;

use crate::cli::{ImagesArgs, OutputFormat};

pub fn run(home: Option<&Path>, args: ImagesArgs) -> anyhow::Result<u8> {
    let home = crate::settings::home(home, None);
    let store =
        Store::open(&home).with_context(|| format!("opening the store at `{}`", home.display()))?;
    let images = store.images()?;
    match args.format {
        OutputFormat::Json => {
            let list: Vec<_> = images
                .iter()
                .map(|image| {
                    serde_json::json!({
                        "digest": image.digest,
                        "reference": image.reference,
                        "size": image.descriptor.size,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        OutputFormat::Text => {
            for image in &images {
                println!(
                    "{}  {}",
                    image.digest,
                    image.reference.as_deref().unwrap_or("(untagged)")
                );
            }
        }
    }
    Ok(0)
}
