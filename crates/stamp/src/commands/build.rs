//! `stamp build`

use std::path::Path;

use anyhow::Context;
use stamp_core::event::{EventKind, Outcome};
use stamp_image::{BuildOptions, BuildOutput, Store};
use time::OffsetDateTime;

use crate::recorder::Recorder;

use crate::cli::{BuildArgs, OutputFormat};

pub fn run(home: Option<&Path>, key: Option<&str>, args: BuildArgs) -> anyhow::Result<u8> {
    let output = build_signed(home, key, &args.spec)?;
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&output)?),
        OutputFormat::Text => print_text(&output),
    }
    Ok(0)
}

/// [`build_signed`] with the default key; shared with `stamp demo`.
pub fn build(home: Option<&Path>, spec_path: &Path) -> anyhow::Result<BuildOutput> {
    build_signed(home, None, spec_path)
}

/// Load the spec, open the store, build, sign the SLSA provenance with the builder's key
/// (`key`, else the default key, made on first use), attach it to the image, and record the
/// build (or its failure) in the log with the attestation's digests in `refs`.
pub fn build_signed(
    home: Option<&Path>,
    key: Option<&str>,
    spec_path: &Path,
) -> anyhow::Result<BuildOutput> {
    let spec = stamp_image::load_spec(spec_path)
        .with_context(|| format!("loading `{}`", spec_path.display()))?;
    let home = crate::settings::home(home, Some(&spec.path));
    let store = Store::open_or_create(&home)
        .with_context(|| format!("opening the store at `{}`", home.display()))?;
    let mut recorder = Recorder::open_or_init(&home)?.recorder;
    let signer = super::signing::builder(&home, key, &mut recorder, &spec.reference())?;
    let options = BuildOptions {
        source_date_epoch_env: std::env::var("SOURCE_DATE_EPOCH").ok(),
    };
    let started_on = OffsetDateTime::now_utc();
    let result = stamp_image::build(&spec, &store, &options)
        .with_context(|| format!("building `{}`", spec.reference()));
    let finished_on = OffsetDateTime::now_utc();
    // Sign the provenance of a successful build; a failure to sign fails the build.
    let (result, signed) = match result {
        Ok(output) => match super::signing::sign_provenance(
            &store,
            &spec,
            spec_path,
            &output,
            &signer,
            started_on,
            finished_on,
        ) {
            Ok(signed) => (Ok(output), Some(signed)),
            Err(error) => (
                Err(error.context(format!("signing the provenance of `{}`", spec.reference()))),
                None,
            ),
        },
        Err(error) => (Err(error), None),
    };
    let event = match (&result, &signed) {
        (Ok(output), Some(signed)) => recorder
            .event(
                EventKind::Build,
                Outcome::Success,
                &output.digest.to_string(),
            )
            .detail(
                "image",
                serde_json::json!({ "name": spec.name, "digest": output.digest }),
            )
            .detail("reference", output.reference.clone())
            .detail("spec_digest", output.spec_digest.to_string())
            .detail("git_commit", output.git_commit.clone())
            .detail("source_date_epoch", output.source_date_epoch)
            .detail("file_manifest_root", output.file_manifest_root.to_string())
            .detail(
                "layers",
                output
                    .layers
                    .iter()
                    .map(|layer| layer.digest.to_string())
                    .collect::<Vec<_>>(),
            )
            .reference(output.digest)
            .reference(output.config_digest)
            .detail("signer", signer.detail())
            .detail("attestation", signed.detail())
            .reference(signed.referrer.manifest)
            .reference(signed.referrer.envelope),
        // A failed build is recorded too, with the reason; the reason names files and keys,
        // never file contents.
        (Err(error), _) => recorder
            .event(EventKind::Build, Outcome::Failure, &spec.reference())
            .detail("reason", format!("{error:#}")),
        (Ok(_), None) => unreachable!("a successful build is always signed"),
    };
    let event = match output_base(&result) {
        Some(base) => event.detail("base_digest", base.to_string()),
        None => event,
    };
    recorder.append(event)?;
    result
}

fn output_base(result: &anyhow::Result<BuildOutput>) -> Option<stamp_core::Digest> {
    result.as_ref().ok().and_then(|output| output.base_digest)
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
