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
    if !home.join("keys").join(format!("{DEPLOYER}.pem")).exists() {
        stamp_cli(
            &home,
            None,
            &["key", "new", "--name", DEPLOYER, "--role", "deployer"],
        )?;
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

    step(
        7,
        "the gate: vulnerabilities (offline OSV data), card numbers, secrets, PCI configuration; signed verdict and SBOM",
    );
    stamp_cli(
        &home,
        None,
        &["db", "import", &example.join("osv").display().to_string()],
    )?;
    let gate = stamp_cli_status(&home, None, &["check", &image])?;
    if gate != 0 {
        bail!("`stamp check {image}` failed the gate (exit {gate}); run it to see why");
    }
    println!("    gate      passed: no vulnerable component, no card number, no secret, no high configuration finding (signed gate attestation attached)");
    stamp_cli(&home, None, &["sbom", &image, "--attach"])?;
    println!("    sbom      CycloneDX inventory signed and attached: what a rescan re-matches when new advisories arrive (PCI DSS 6.3.2)");
    let failures = stamp_cli(
        &home,
        None,
        &[
            "log",
            "show",
            "--kind",
            "control.failure",
            "--format",
            "json",
        ],
    )?;
    if failures.contains("vulnerability-db-freshness") {
        println!("    control   the bundled advisories are older than 7 days: logged as a control.failure (PCI DSS 10.7.2)");
    }
    stamp_cli(
        &home,
        Some("alice@payments.example"),
        &[
            "approve",
            &image,
            "--env",
            "dev",
            "--comment",
            "dev rollout in the demo",
        ],
    )?;
    println!("    approved  dev by alice@payments.example");

    if !stamp_image::unpack::running_as_root() || which("runc").is_none() {
        println!();
        println!(
            "[8] deploy, drift and heal need root and runc (`apt-get install runc`); skipped here"
        );
    } else {
        step(
            8,
            "deploy to dev by replacement, as carol@payments.example (deployer), with the settings of [env.dev] in stamp.toml",
        );
        let spec_text = spec.display().to_string();
        let environments = stamp_image::spec::load_environments(&spec)?;
        let dev = environments
            .get("dev")
            .context("the example's stamp.toml has no [env.dev] table")?;
        println!(
            "    settings  [env.dev] of {}: {} replica(s), ports {}, health {}, writable {} (table sha256 {})",
            spec.display(),
            dev.replicas.unwrap_or(1),
            dev.port.map_or_else(
                || "from 8080".to_string(),
                |port| match port.last {
                    Some(last) => format!("{}-{last}", port.first),
                    None => format!("from {}", port.first),
                }
            ),
            match dev.health.as_ref().map(|health| (&health.probe, health.timeout)) {
                Some((stamp_image::spec::HealthProbe::Http(path), timeout)) =>
                    format!("GET {path} = 200 within {} s", timeout.as_secs()),
                Some((stamp_image::spec::HealthProbe::Command(args), timeout)) =>
                    format!("`{}` exits 0 within {} s", args.join(" "), timeout.as_secs()),
                None => "GET /health".to_string(),
            },
            dev.writable
                .as_ref()
                .map(|paths| paths.iter().map(|path| path.absolute()).collect::<Vec<_>>().join(", "))
                .unwrap_or_else(|| "as the image declares".into()),
            &dev.sha256.hex()[..12],
        );
        println!("    runc      read-only root, non-root user, no capabilities; the deploy event records these settings");
        let deployed = stamp_cli(
            &home,
            Some(DEPLOYER),
            &["deploy", "dev", &image, "--spec", &spec_text],
        )?;
        for line in deployed.lines() {
            println!("    instance  {line}");
        }
        let port = deployed
            .lines()
            .filter_map(|line| line.rsplit_once(':'))
            .filter_map(|(_, port)| port.trim().parse::<u16>().ok())
            .next()
            .context("`stamp deploy` printed no endpoint")?;
        let body = http_get(port, "/health")?;
        println!("    answered  GET http://127.0.0.1:{port}/health -> {body}");

        step(9, "tamper with a file the instances run from; drift finds it; heal replaces, never patches");
        let bundle = home
            .join("bundles")
            .join(first.digest.hex())
            .join("rootfs/etc/passwd");
        let mut passwd = std::fs::read_to_string(&bundle)
            .with_context(|| format!("reading `{}`", bundle.display()))?;
        passwd.push_str("intruder:x:0:0::/:/bin/sh\n");
        std::fs::write(&bundle, passwd)?;
        println!("    tampered  appended a uid-0 user to /etc/passwd on the host");
        let drift = stamp_cli_status(&home, None, &["drift", "dev"])?;
        if drift != 1 {
            bail!("`stamp drift dev` exited {drift} after tampering, not 1");
        }
        println!("    drift     detected (exit 1, recorded as a drift event)");
        stamp_cli_status(&home, None, &["drift", "dev", "--heal"])?;
        let after = stamp_cli_status(&home, None, &["drift", "dev"])?;
        if after != 0 {
            bail!("`stamp drift dev` still finds drift after --heal (exit {after})");
        }
        println!("    healed    quarantined the drifted root, fresh instances from the verified image; drift now clean");
        let body = http_get_any(&home)?;
        println!("    answered  {body}");

        step(
            10,
            "ship 1.0.1 through the same gate and approvals, then roll back to 1.0.0",
        );
        let next = build_next_version(&example, &work_dir, &home, first.source_date_epoch)?;
        println!("    built     payments-api:1.0.1  {next}");
        let gate = stamp_cli_status(&home, None, &["check", &next])?;
        if gate != 0 {
            bail!("`stamp check {next}` failed the gate (exit {gate})");
        }
        stamp_cli(&home, None, &["sbom", &next, "--attach"])?;
        stamp_cli(
            &home,
            Some("alice@payments.example"),
            &[
                "approve",
                &next,
                "--env",
                "dev",
                "--comment",
                "1.0.1 for dev",
            ],
        )?;
        stamp_cli(
            &home,
            Some(DEPLOYER),
            &["deploy", "dev", &next, "--spec", &spec_text],
        )?;
        println!(
            "    deployed  1.0.1 to dev (gate passed, approved by alice, deployed by {DEPLOYER})"
        );
        stamp_cli(
            &home,
            Some(DEPLOYER),
            &["rollback", "dev", "--spec", &spec_text],
        )?;
        let status = stamp_cli(&home, None, &["status", "dev", "--format", "json"])?;
        if !status.contains(&image) {
            bail!("after `stamp rollback dev`, dev does not run {image}");
        }
        println!(
            "    rolled    back: dev runs 1.0.0 ({}) again, recorded as a rollback",
            &image[..19]
        );
        let body = http_get_any(&home)?;
        println!("    answered  {body}");
    }

    step(
        11,
        "the log holds every step; verify it once more and rebuild state from it",
    );
    let verified = stamp_cli_status(&home, None, &["log", "verify"])?;
    let replayed = stamp_cli_status(&home, None, &["log", "replay"])?;
    if verified != 0 || replayed != 0 {
        bail!("log verify exited {verified}, log replay {replayed}");
    }
    let recorder = crate::recorder::Recorder::open(&home)?;
    let size = recorder.log.size()?;
    let origin = recorder.log.origin().to_string();
    println!("    log       {size} events verified; projections rebuilt from the log are identical ({origin})");

    step(
        12,
        "hand the assessor the evidence: export today's pack, verify it offline with the public keys",
    );
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let pack = work_dir.join(format!("evidence-{today}"));
    if pack.exists() {
        std::fs::remove_dir_all(&pack)
            .with_context(|| format!("removing the previous pack `{}`", pack.display()))?;
    }
    let pack_text = pack.to_string_lossy().into_owned();
    stamp_cli(
        &home,
        None,
        &[
            "evidence", "--from", &today, "--to", &today, "-o", &pack_text,
        ],
    )?;
    let verdict = stamp_cli(
        &home,
        None,
        &[
            "verify",
            &pack_text,
            "--trust",
            &home.to_string_lossy(),
            "--format",
            "json",
        ],
    )?;
    let verdict: serde_json::Value =
        serde_json::from_str(&verdict).context("reading `stamp verify --format json`")?;
    let evidence: serde_json::Value = serde_json::from_slice(
        &std::fs::read(pack.join("evidence.json")).context("reading the pack's evidence.json")?,
    )
    .context("parsing the pack's evidence.json")?;
    for requirement in evidence["requirements"].as_array().into_iter().flatten() {
        let status = requirement["status"].as_str().unwrap_or("?");
        if status == "not-covered" {
            continue;
        }
        println!(
            "    {:<9} {:<9} {}",
            requirement["id"].as_str().unwrap_or("?"),
            status,
            requirement["title"].as_str().unwrap_or("")
        );
    }
    if verdict["ok"] != serde_json::Value::Bool(true) {
        bail!("`stamp verify` did not accept the pack it was given: {verdict}");
    }
    let checked: Vec<String> = verdict["checked"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(what, count)| format!("{count} {what}"))
        .collect();
    println!(
        "    verified  offline with only the public keys: {}",
        checked.join(", ")
    );
    println!("    report    {}", pack.join("index.html").display());
    println!();
    println!("done. try:");
    println!("    stamp --home {} log show", home.display());
    println!(
        "    stamp --home {} manifest {} --format mtree",
        home.display(),
        first.reference
    );
    if stamp_image::unpack::running_as_root() && which("runc").is_some() {
        // The dev instances keep running so their endpoints can be tried; this takes them
        // down, recorded as `instance.stop` events.
        println!(
            "    stamp --home {} --key {DEPLOYER} stop dev --reason \"demo finished\"",
            home.display()
        );
    }
    Ok(0)
}

/// The log index of the newest successful build event of `digest`.
fn find_build_event(recorder: &crate::recorder::Recorder, digest: &str) -> anyhow::Result<u64> {
    let mut found = None;
    super::signing::scan_events(&recorder.log, |index, event| {
        if event.kind() == EventKind::Build && event.subject() == digest {
            found = Some(index);
        }
        false
    })?;
    found.context("the build event is missing from the log")
}

/// The demo identity that deploys (role deployer; neither builder nor approver).
const DEPLOYER: &str = "carol@payments.example";

/// Build version 1.0.1 of the example: the same files with another version label, so a
/// different digest; the spec is written under the work directory with absolute inputs.
fn build_next_version(
    example: &Path,
    work_dir: &Path,
    home: &Path,
    source_date_epoch: u64,
) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(example.join("stamp.toml"))?;
    let prefix = format!("src = \"{}/", example.display());
    // The derived spec lives in the work directory, which need not be in a git checkout:
    // pin the timestamp the first build took from the example's commit.
    let pinned = if text.contains("source_date_epoch") {
        text.clone()
    } else {
        text.replacen(
            "[image]\n",
            &format!("[image]\nsource_date_epoch = {source_date_epoch}\n"),
            1,
        )
    };
    let next = pinned
        .replace("src = \"", &prefix)
        .replace("tag = \"1.0.0\"", "tag = \"1.0.1\"")
        .replace(
            "\"org.opencontainers.image.version\" = \"1.0.0\"",
            "\"org.opencontainers.image.version\" = \"1.0.1\"",
        );
    if next == text {
        bail!("could not derive version 1.0.1 from the example's stamp.toml");
    }
    let dir = work_dir.join("payments-api-1.0.1");
    std::fs::create_dir_all(&dir)?;
    let spec = dir.join("stamp.toml");
    std::fs::write(&spec, next)?;
    let output = stamp_cli(
        home,
        None,
        &[
            "build",
            "--spec",
            &spec.display().to_string(),
            "--format",
            "json",
        ],
    )?;
    let built: serde_json::Value = serde_json::from_str(&output)?;
    built["digest"]
        .as_str()
        .map(str::to_string)
        .context("`stamp build` printed no digest")
}

/// `GET path` from 127.0.0.1:`port`; the status line and body, on one line.
fn http_get(port: u16, path: &str) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))
        .with_context(|| format!("connecting to 127.0.0.1:{port}"))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.take(64 * 1024).read_to_string(&mut response)?;
    let status = response.lines().next().unwrap_or_default().to_string();
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_string();
    if !status.contains(" 200 ") {
        bail!("GET {path} on port {port} answered `{status}`");
    }
    Ok(format!("{status} {body}"))
}

/// `GET /health` from the first instance `stamp status dev` lists.
fn http_get_any(home: &Path) -> anyhow::Result<String> {
    let status = stamp_cli(home, None, &["status", "dev", "--format", "json"])?;
    let port = status
        .split("127.0.0.1:")
        .skip(1)
        .find_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u16>().ok()
        })
        .context("`stamp status dev` lists no endpoint")?;
    Ok(format!(
        "GET http://127.0.0.1:{port}/health -> {}",
        http_get(port, "/health")?
    ))
}

/// The path of `program` on $PATH, if any.
fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
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
