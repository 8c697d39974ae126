//! `stamp demo`: the whole path on the bundled example, end to end. Each issue that adds a
//! capability adds its step here.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use stamp_core::event::{EventKind, Outcome};
use stamp_image::scan::{compare, scan_tree};
use stamp_image::{Store, UnpackOptions};
use stamp_log::LogStore;

use crate::cli::DemoArgs;

/// The target the example's static binary is built for.
const EXAMPLE_TARGET: &str = "x86_64-unknown-linux-gnu";

pub fn run(args: DemoArgs) -> anyhow::Result<u8> {
    let example = match args.example {
        Some(dir) => dir,
        None => default_example()?,
    };
    let example = example
        .canonicalize()
        .with_context(|| format!("example directory `{}`", example.display()))?;
    let work_dir = match args.work_dir {
        Some(dir) => dir,
        None => example.join("../../target/stamp-demo"),
    };
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("creating `{}`", work_dir.display()))?;
    let work_dir = work_dir.canonicalize()?;
    let home = work_dir.join(".stamp");

    step(1, "build the example service as a static binary (cargo)");
    build_example(&example)?;

    step(
        2,
        "build its image from stamp.toml into the local OCI store",
    );
    let spec = example.join("stamp.toml");
    let first = super::build::build(Some(&home), &spec)?;
    println!("    image     {}  {}", first.reference, first.digest);
    for layer in &first.layers {
        println!(
            "    layer     {}  {:>9} bytes  {}",
            layer.digest.short(),
            layer.size,
            layer.name
        );
    }
    println!(
        "    time      source_date_epoch {} (from {})",
        first.source_date_epoch, first.source_date_from
    );
    println!(
        "    files     {} paths, root digest {}",
        first.file_count, first.file_manifest_root
    );
    println!("    store     {}", home.join("oci").display());

    step(3, "build it again: same inputs, same digest, bit for bit");
    let second = super::build::build(Some(&home), &spec)?;
    if second.digest != first.digest {
        bail!(
            "rebuild gave {} instead of {}: the build is not reproducible",
            second.digest,
            first.digest
        );
    }
    println!("    rebuilt   {}  identical", second.digest);

    step(
        4,
        "unpack it safely and check the tree against the image's file manifest",
    );
    let store = Store::open(&home)?;
    let rootfs = work_dir.join(format!("rootfs-{}", first.digest.short()));
    if rootfs.exists() {
        std::fs::remove_dir_all(&rootfs).with_context(|| {
            format!(
                "clearing the demo's previous unpack at `{}`",
                rootfs.display()
            )
        })?;
    }
    let summary =
        stamp_image::unpack_image(&store, &first.digest, &rootfs, &UnpackOptions::default())?;
    println!(
        "    unpacked  {} entries, {} bytes into {}",
        summary.entries,
        summary.bytes,
        rootfs.display()
    );
    let manifest = store.file_manifest(&first.digest)?;
    let tree = scan_tree(&rootfs)?;
    let as_root = stamp_image::unpack::running_as_root();
    let differences: Vec<_> = compare(&manifest, &tree, &[])
        .into_iter()
        .filter(|difference| as_root || difference.code != "drift-owner")
        .collect();
    if !differences.is_empty() {
        for difference in &differences {
            eprintln!("    {}  {}", difference.code, difference.path);
        }
        bail!("the unpacked tree differs from the image's file manifest");
    }
    println!(
        "    checked   {} paths match the manifest{}",
        manifest.entries.len(),
        if as_root {
            ""
        } else {
            " (owners not compared: not running as root)"
        }
    );

    step(
        5,
        "every build is an event in the signed Merkle log; verify it and prove the build is in it",
    );
    let mut recorder = crate::recorder::Recorder::open(&home)?;
    let size = recorder.log.size()?;
    let report = recorder.log.verify(&recorder.verifier())?;
    if !report.is_ok() {
        bail!("the demo's log does not verify: {:?}", report.problem);
    }
    println!("    log       {size} events; every leaf, node and checkpoint signature verified");
    let build_index = find_build_event(&recorder, &first.digest.to_string())?;
    let root = recorder.log.tree_hash(size)?;
    let proof = recorder.log.prove_inclusion(size, build_index)?;
    let entry = recorder.log.read_entry(build_index)?;
    stamp_log::check_inclusion(
        &proof,
        size,
        &root,
        build_index,
        &stamp_log::leaf_hash(&entry.bytes),
    )?;
    println!(
        "    proof     build event #{build_index} is in the tree of size {size} ({} hashes, root {})",
        proof.len(),
        &hex::encode(root.0)[..16]
    );
    let origin = recorder.log.origin().to_string();
    recorder.append(
        recorder
            .event(EventKind::LogVerify, Outcome::Success, &origin)
            .detail("report", report.to_json()),
    )?;
    println!(
        "    key       checkpoints verify with {}",
        recorder.verifier_key()
    );
    drop(recorder);

    step(
        6,
        "separation of duties: the builder may not approve its own image; two others approve prod",
    );
    let image = first.digest.to_string();
    for approver in ["alice@payments.example", "bob@payments.example"] {
        if !home.join("keys").join(format!("{approver}.pem")).exists() {
            stamp_cli(
                &home,
                None,
                &["key", "new", "--name", approver, "--role", "approver"],
            )?;
        }
    }
    let refused = stamp_cli_status(
        &home,
        None,
        &[
            "approve",
            &image,
            "--env",
            "prod",
            "--comment",
            "self-approval",
        ],
    )?;
    if refused != 1 {
        bail!("the builder approving its own image exited {refused}, not 1 (refused)");
    }
    println!("    refused   the builder's own approval (exit 1, recorded as a failure event)");
    for approver in ["alice@payments.example", "bob@payments.example"] {
        stamp_cli(
            &home,
            Some(approver),
            &[
                "approve",
                &image,
                "--env",
                "prod",
                "--comment",
                "reviewed in the demo",
            ],
        )?;
        println!(
            "    approved  prod by {approver} (signed DSSE attestation attached to the image)"
        );
    }
    let listing = stamp_cli(&home, None, &["attestations", &image, "--format", "json"])?;
    let attestations: serde_json::Value = serde_json::from_str(&listing)?;
    let list = attestations["attestations"]
        .as_array()
        .context("`stamp attestations --format json` printed no list")?;
    let verified = list.iter().filter(|item| item["verified"] == true).count();
    if verified != list.len() || attestations["approvals"].as_array().is_none() {
        bail!("only {verified} of {} attestations verified", list.len());
    }
    println!(
        "    attached  {} attestations (SLSA provenance and approvals), all {verified} verified",
        list.len()
    );
    println!();
    println!("done. try:");
    println!("    stamp --home {} log show", home.display());
    println!(
        "    stamp --home {} manifest {} --format mtree",
        home.display(),
        first.reference
    );
    Ok(0)
}

/// The log index of the newest successful build event of `digest`.
fn find_build_event(recorder: &crate::recorder::Recorder, digest: &str) -> anyhow::Result<u64> {
    let size = recorder.log.size()?;
    let entries = recorder.log.read_entries(0, size as usize)?;
    entries
        .iter()
        .rev()
        .find_map(|entry| {
            let event = stamp_core::Event::from_canonical_bytes(&entry.bytes).ok()?;
            (event.kind() == EventKind::Build && event.subject() == digest).then_some(entry.index)
        })
        .context("the build event is missing from the log")
}

/// Run this stamp binary on the demo's store as `key` (default: the store's default key) and
/// return its standard output; fail with its standard error when it fails.
fn stamp_cli(home: &Path, key: Option<&str>, args: &[&str]) -> anyhow::Result<String> {
    let output = stamp_command(home, key, args)
        .output()
        .context("running stamp")?;
    if !output.status.success() {
        bail!(
            "`stamp {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8(output.stdout)?)
}

/// Run this stamp binary on the demo's store and return its exit code (output discarded).
fn stamp_cli_status(home: &Path, key: Option<&str>, args: &[&str]) -> anyhow::Result<i32> {
    let output = stamp_command(home, key, args)
        .output()
        .context("running stamp")?;
    Ok(output.status.code().unwrap_or(-1))
}

fn stamp_command(home: &Path, key: Option<&str>, args: &[&str]) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap_or_else(|_| "stamp".into()));
    command.arg("--home").arg(home);
    if let Some(key) = key {
        command.arg("--key").arg(key);
    }
    command.args(args).env_remove("STAMP_KEY");
    command
}

fn step(number: u32, text: &str) {
    println!("[{number}] {text}");
}

fn default_example() -> anyhow::Result<PathBuf> {
    let candidates = [
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/payments-api"),
        PathBuf::from("examples/payments-api"),
    ];
    candidates
        .into_iter()
        .find(|dir| dir.join("stamp.toml").is_file())
        .context("the bundled example `examples/payments-api` was not found; pass --example DIR")
}

fn build_example(example: &Path) -> anyhow::Result<()> {
    if std::env::consts::ARCH != "x86_64" {
        bail!(
            "the demo builds the example for {EXAMPLE_TARGET}; this machine is {}",
            std::env::consts::ARCH
        );
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(example)
        .args(["build", "--release", "--quiet", "--target", EXAMPLE_TARGET])
        .env("CARGO_TARGET_DIR", example.join("target"))
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .status()
        .context("running cargo to build the example")?;
    if !status.success() {
        bail!(
            "cargo could not build the example in `{}`",
            example.display()
        );
    }
    let binary = example.join(format!("target/{EXAMPLE_TARGET}/release/payments-api"));
    println!(
        "    binary    {} ({} bytes)",
        binary.display(),
        std::fs::metadata(&binary)?.len()
    );
    Ok(())
}
