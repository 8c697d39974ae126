//! `stamp unpack`

use std::path::Path;

use anyhow::Context;
use stamp_image::{Store, UnpackLimits, UnpackOptions};

use crate::cli::{OutputFormat, UnpackArgs};

pub fn run(home: Option<&Path>, args: UnpackArgs) -> anyhow::Result<u8> {
    let home = crate::settings::home(home, None);
    let store =
        Store::open(&home).with_context(|| format!("opening the store at `{}`", home.display()))?;
    let image = store.resolve(&args.image)?;
    let options = UnpackOptions {
        limits: UnpackLimits {
            layer_bytes_max: args.max_layer_bytes,
            ..UnpackLimits::default()
        },
        allow_devices: args.allow_devices,
    };
    let summary = stamp_image::unpack_image(&store, &image.digest, &args.dir, &options)
        .with_context(|| format!("unpacking {} into `{}`", image.digest, args.dir.display()))?;
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "image": image.digest,
                "dir": args.dir,
                "layers": summary.layers,
                "entries": summary.entries,
                "bytes": summary.bytes,
            }))?
        ),
        OutputFormat::Text => eprintln!(
            "unpacked {} into {}: {} layer(s), {} entries, {} bytes",
            image.digest,
            args.dir.display(),
            summary.layers,
            summary.entries,
            summary.bytes
        ),
    }
    Ok(0)
}
