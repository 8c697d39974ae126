//! `stamp attestations IMAGE`

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;
use stamp_attest::policy::{count_approvals, ApprovalCount};
use stamp_attest::referrers::{read_envelope, referrers};
use stamp_attest::{verify_attestation, LogFacts, Predicate, Trust, Verified};
use stamp_core::Digest;
use stamp_image::Store;
use stamp_log::SqliteLog;

use super::signing::{read_facts, trust_path};
use crate::cli::{AttestationsArgs, OutputFormat};
use crate::recorder::LOG_DATABASE;

pub fn run(home: Option<&Path>, args: AttestationsArgs) -> anyhow::Result<u8> {
    let home = crate::settings::home(home, None);
    let store =
        Store::open(&home).with_context(|| format!("opening the store at `{}`", home.display()))?;
    let image = store.resolve(&args.image)?;
    let loaded = Trust::load(&trust_path(&home))?;
    let facts = open_facts(&home)?;
    let trust_recorded = warn_unrecorded_trust(&home, loaded.as_ref(), facts.as_ref());
    let trust = loaded.map(|(trust, _)| trust).unwrap_or_default();
    let mut rows = Vec::new();
    let mut verified_approvals: Vec<Verified> = Vec::new();
    let mut all_ok = true;
    for referrer in referrers(&store, &image.digest)? {
        let result = read_envelope(&store, &referrer)
            .map_err(anyhow::Error::new)
            .and_then(|bytes| {
                verify_attestation(&bytes, &trust, facts.as_ref()).map_err(anyhow::Error::new)
            })
            .and_then(|verified| {
                if verified.statement.subject_digests().contains(&image.digest) {
                    Ok(verified)
                } else {
                    Err(anyhow::anyhow!(
                        "the statement's subject is not image {}",
                        image.digest
                    ))
                }
            });
        let mut row = serde_json::json!({
            "manifest": referrer.manifest,
            "envelope": referrer.envelope,
            "predicate_type": referrer.predicate_type,
        });
        match result {
            Ok(verified) => {
                row["verified"] = true.into();
                row["signer"] = serde_json::json!({
                    "name": verified.signer.name,
                    "key_id": verified.signer.key_id(),
                });
                row["recorded_at"] = verified.recorded_at.into();
                row["signer_revoked_at"] = verified.revoked_at.into();
                if let Predicate::Approval(approval) = &verified.predicate {
                    row["environment"] = approval.environment.clone().into();
                    verified_approvals.push(verified);
                }
            }
            Err(error) => {
                all_ok = false;
                row["verified"] = false.into();
                row["code"] = error
                    .downcast_ref::<stamp_attest::VerifyAttestationError>()
                    .map(|error| error.code())
                    .unwrap_or("subject-mismatch")
                    .into();
                row["error"] = format!("{error:#}").into();
            }
        }
        rows.push(row);
    }
    let approvals = approval_counts(&trust, facts.as_ref(), &image.digest, &verified_approvals);
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "image": image.digest,
                "reference": image.reference,
                "ok": all_ok,
                "trust_recorded": trust_recorded,
                "attestations": rows,
                "approvals": approvals,
            }))?
        ),
        OutputFormat::Text => {
            print_text(&image.digest, image.reference.as_deref(), &rows, &approvals)
        }
    }
    if facts.is_none() {
        eprintln!("note: no log here, so revoked keys' signatures cannot be placed before their revocation");
    }
    Ok(if all_ok { 0 } else { 1 })
}

/// Whether the trust file is the one the log last recorded; warns on stderr when it is not
/// (edited by hand since, or never recorded), since verification then trusts unlogged policy.
pub fn warn_unrecorded_trust(
    home: &Path,
    trust: Option<&(Trust, Digest)>,
    facts: Option<&LogFacts>,
) -> bool {
    let (Some((_, digest)), Some(facts)) = (trust, facts) else {
        return true;
    };
    if facts.trust_digest == Some(*digest) {
        return true;
    }
    eprintln!(
        "warning: `{}` is not the trust file the log last recorded (changed outside stamp); the next stamp command that records events will log the change",
        trust_path(home).display()
    );
    false
}

/// Facts from the store's log, when it has one.
pub fn open_facts(home: &Path) -> anyhow::Result<Option<LogFacts>> {
    let database = home.join(LOG_DATABASE);
    if !database.is_file() {
        return Ok(None);
    }
    let log = SqliteLog::open(&database)
        .with_context(|| format!("opening the log `{}`", database.display()))?;
    Ok(Some(read_facts(&log)?))
}

/// Per environment of the trust file: distinct verified approvers that did not build the image.
pub(crate) fn approval_counts(
    trust: &Trust,
    facts: Option<&LogFacts>,
    image: &Digest,
    approvals: &[Verified],
) -> Vec<ApprovalCount> {
    let builds = facts.map(|facts| facts.builds_of(image)).unwrap_or(&[]);
    let builders: BTreeSet<&str> = builds
        .iter()
        .flat_map(|build| [Some(build.builder.as_str()), build.key_id.as_deref()])
        .flatten()
        .collect();
    trust
        .environments()
        .iter()
        .map(|(environment, policy)| {
            let approvers = approvals
                .iter()
                .filter_map(|verified| match &verified.predicate {
                    Predicate::Approval(approval)
                        if approval.environment == *environment
                            && !builders.contains(verified.signer.name.as_str())
                            && !builders.contains(verified.signer.key_id()) =>
                    {
                        Some(verified.signer.name.as_str())
                    }
                    _ => None,
                });
            count_approvals(environment, policy, approvers)
        })
        .collect()
}

fn print_text(
    image: &Digest,
    reference: Option<&str>,
    rows: &[serde_json::Value],
    approvals: &[ApprovalCount],
) {
    println!("{image}  {}", reference.unwrap_or("(untagged)"));
    if rows.is_empty() {
        println!("  no attestations attached");
    }
    for row in rows {
        let predicate = row["predicate_type"]
            .as_str()
            .unwrap_or("(unknown predicate)");
        if row["verified"] == true {
            let recorded = match row["recorded_at"].as_u64() {
                Some(index) => format!("log index {index}"),
                None => "not in the log".to_string(),
            };
            let environment = row["environment"]
                .as_str()
                .map(|environment| format!(" for {environment}"))
                .unwrap_or_default();
            println!(
                "  ok    {predicate}{environment}  signed by {} (key {}), {recorded}",
                row["signer"]["name"].as_str().unwrap_or_default(),
                &row["signer"]["key_id"].as_str().unwrap_or_default()[..16],
            );
        } else {
            println!(
                "  FAIL  {predicate}  {}: {}",
                row["code"].as_str().unwrap_or_default(),
                row["error"].as_str().unwrap_or_default()
            );
        }
        println!("        {}", row["manifest"].as_str().unwrap_or_default());
    }
    println!("approvals");
    for count in approvals {
        println!("  {}", super::approve::approvals_line(count));
    }
}
