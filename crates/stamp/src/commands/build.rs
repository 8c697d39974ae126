//! `stamp build`

use std::path::Path;

use anyhow::Context;
use stamp_image::{BuildOptions, BuildOutput, Store};

use crate::cli::{BuildArgs, OutputFormat};

pub fn run(home: Option<&Path>, args: BuildArgs) -> anyhow::Result<u8> {
    let output = build(home, &args.spec)?;
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&output)?),
        OutputFormat::Text => print_text(&output),
    }
    Ok(0)
}

/// Load the spec, open the store and build; shared with `stamp demo`.
pub fn build(home: Option<&Path>, spec_path: &Path) -> anyhow::Result<BuildOutput> {
    let spec = stamp_image::load_spec(spec_path)
        .with_context(|| format!("loading `{}`", spec_path.display()))?;
    let home = crate::settings::home(home, Some(&spec.path));
    let store = Store::open_or_create(&home)
        .with_context(|| format!("opening the store at `{}`", home.display()))?;
    let options = BuildOptions {
        source_date_epoch_env: std::env::var("SOURCE_DATE_EPOCH").ok(),
    };
    stamp_image::build(&spec, &store, &options)
        .with_context(|| format!("building `{}`", spec.reference()))
}

fn print_text(output: &BuildOutput) {
    eprintln!(
        "built {} from {} layer(s), source_date_epoch {} (from {})",
        output.reference,
        output.layers.len(),
        output.source_date_epoch,
        output.source_date_from
    );
    for layer in &output.layers {
        eprintln!(
            "  layer {}  {:>10} bytes  {}{}",
            layer.digest.short(),
            layer.size,
            layer.name,
            if layer.from_base { " (base)" } else { "" }
        );
    }
    eprintln!(
        "  files {}  root {}",
        output.file_count, output.file_manifest_root
    );
    println!("{}", output.digest);
}
