//! `stamp verify PACK --trust KEYS`: check an evidence pack offline (see
//! `stamp_evidence::verify`). Needs no store: only the pack and the assessor's copy of the keys.

use std::path::{Path, PathBuf};

use stamp_evidence::pack::{Pack, PackError};
use stamp_evidence::verify::{verify, Keys};

use super::UsageError;
use crate::cli::{OutputFormat, VerifyArgs};

/// Largest key file read, in bytes.
const KEY_FILE_BYTES_MAX: u64 = 1 << 20;

fn read_small(path: &Path) -> anyhow::Result<Vec<u8>> {
    let metadata = std::fs::metadata(path)
        .map_err(|_| UsageError(format!("`{}` does not exist", path.display())))?;
    if metadata.len() > KEY_FILE_BYTES_MAX {
        return Err(UsageError(format!(
            "`{}` is larger than {KEY_FILE_BYTES_MAX} bytes",
            path.display()
        ))
        .into());
    }
    Ok(std::fs::read(path)
        .map_err(|error| UsageError(format!("reading `{}`: {error}", path.display())))?)
}

/// `trust.toml` and `log.pub` from KEYS: a directory holding both, or a trust file with
/// `log.pub` beside it.
fn read_keys(keys: &Path) -> anyhow::Result<Keys> {
    let (trust, log): (PathBuf, PathBuf) = if keys.is_dir() {
        (keys.join("trust.toml"), keys.join("log.pub"))
    } else {
        let dir = keys.parent().unwrap_or(Path::new("."));
        (keys.to_path_buf(), dir.join("log.pub"))
    };
    Ok(Keys {
        trust_toml: read_small(&trust)?,
        log_verifier: read_small(&log)?,
    })
}

pub fn run(args: VerifyArgs) -> anyhow::Result<u8> {
    let keys = read_keys(&args.trust)?;
    if !args.pack.exists() {
        return Err(UsageError(format!("`{}` does not exist", args.pack.display())).into());
    }
    let pack = match Pack::read(&args.pack) {
        Ok(pack) => pack,
        Err(error @ PackError::Io { .. }) => return Err(error.into()),
        Err(error) => {
            // A pack that cannot even be read is a failed verification, not a usage error.
            eprintln!(
                "verification FAILED: `{}` is not a readable pack: {error}",
                args.pack.display()
            );
            return Ok(1);
        }
    };
    let report = verify(&pack, &keys);
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report.to_json())?),
        OutputFormat::Text => {
            for failure in &report.failures {
                println!(
                    "FAILED  {:<22} {}: {}",
                    failure.code, failure.place, failure.message
                );
            }
            let checked: Vec<String> = report
                .checked
                .iter()
                .map(|(what, count)| format!("{count} {what}"))
                .collect();
            if report.ok() {
                let mut counts = std::collections::BTreeMap::new();
                for (_, status) in &report.requirements {
                    *counts.entry(format!("{status:?}")).or_insert(0) += 1;
                }
                eprintln!(
                    "verified: signed by `{}`; checked {}",
                    report.signer.as_deref().unwrap_or("?"),
                    checked.join(", ")
                );
                for (id, status) in &report.requirements {
                    println!(
                        "{id:<9} {}",
                        serde_json::to_value(status)?.as_str().unwrap_or_default()
                    );
                }
            } else {
                eprintln!(
                    "verification FAILED: {} problem(s); checked {}",
                    report.failures.len(),
                    checked.join(", ")
                );
            }
        }
    }
    Ok(if report.ok() { 0 } else { 1 })
}
