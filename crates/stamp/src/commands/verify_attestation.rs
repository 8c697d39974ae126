//! `stamp verify-attestation FILE [--trust PATH]`

use std::io::Read as _;
use std::path::Path;

use anyhow::Context;
use stamp_attest::dsse::ENVELOPE_BYTES_MAX;
use stamp_attest::{verify_attestation, Predicate, Trust};

use super::attestations::open_facts;
use super::signing::trust_path;
use super::UsageError;
use crate::cli::{OutputFormat, VerifyAttestationArgs};

pub fn run(home: Option<&Path>, args: VerifyAttestationArgs) -> anyhow::Result<u8> {
    let home = crate::settings::home(home, None);
    let trust_file = args.trust.clone().unwrap_or_else(|| trust_path(&home));
    let Some(loaded) = Trust::load(&trust_file)? else {
        return Err(UsageError(format!(
            "no trust file at `{}`; pass one with --trust PATH",
            trust_file.display()
        ))
        .into());
    };
    let mut bytes = Vec::new();
    std::fs::File::open(&args.file)
        .and_then(|file| {
            file.take(ENVELOPE_BYTES_MAX as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .with_context(|| format!("reading `{}`", args.file.display()))?;
    // The log orders signatures against revocations; without one (an assessor's copy of the
    // trust file alone) a revoked key's signature cannot be placed before its revocation.
    let facts = open_facts(&home)?;
    if args.trust.is_none() {
        super::attestations::warn_unrecorded_trust(&home, Some(&loaded), facts.as_ref());
    }
    let trust = loaded.0;
    let result = verify_attestation(&bytes, &trust, facts.as_ref());
    match (&result, args.format) {
        (Ok(verified), OutputFormat::Json) => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": true,
                "signer": {"name": verified.signer.name, "key_id": verified.signer.key_id()},
                "predicate_type": verified.statement.predicate_type,
                "subjects": verified.statement.subject,
                "recorded_at": verified.recorded_at,
                "signer_revoked_at": verified.revoked_at,
                "envelope_digest": verified.envelope_digest,
            }))?
        ),
        (Ok(verified), OutputFormat::Text) => {
            println!(
                "verified: {} signed by {} (key {})",
                verified.statement.predicate_type,
                verified.signer.name,
                verified.signer.key_id()
            );
            for subject in &verified.statement.subject {
                println!(
                    "  subject {}  sha256:{}",
                    subject.name,
                    subject
                        .digest
                        .get("sha256")
                        .map(String::as_str)
                        .unwrap_or("")
                );
            }
            if let Predicate::Approval(approval) = &verified.predicate {
                println!("  approves for {}", approval.environment);
            }
            match (verified.recorded_at, verified.revoked_at) {
                (Some(index), Some(revoked)) => println!(
                    "  recorded at log index {index}, before the key's revocation at {revoked}"
                ),
                (Some(index), None) => println!("  recorded at log index {index}"),
                (None, _) => println!("  not recorded in this store's log"),
            }
        }
        (Err(error), OutputFormat::Json) => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": false,
                "code": error.code(),
                "error": error_chain(error),
            }))?
        ),
        (Err(error), OutputFormat::Text) => {
            eprintln!("not verified: {}", error_chain(error));
        }
    }
    Ok(if result.is_ok() { 0 } else { 1 })
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
