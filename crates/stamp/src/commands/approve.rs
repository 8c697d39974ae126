//! `stamp approve IMAGE --env ENV [--comment TEXT]`

use std::path::Path;

use anyhow::Context;
use stamp_attest::approval::{approval, check_comment, ApprovalFacts};
use stamp_attest::facts::detail;
use stamp_attest::policy::{check_approval, count_approvals, ApprovalCount};
use stamp_core::event::{EventKind, Outcome};
use stamp_image::oci::ANNOTATION_STAMP_NAME;
use stamp_image::Store;
use time::OffsetDateTime;

use super::signing::{
    load_acting_key, load_trust_recorded, read_facts, refuse, sign_and_attach, Signer,
};
use super::UsageError;
use crate::cli::{ApproveArgs, OutputFormat};
use crate::recorder::Recorder;

pub fn run(home: Option<&Path>, key: Option<&str>, args: ApproveArgs) -> anyhow::Result<u8> {
    let home = crate::settings::home(home, None);
    if let Some(comment) = &args.comment {
        check_comment(comment).map_err(|error| UsageError(format!("--comment: {error}")))?;
    }
    let store =
        Store::open(&home).with_context(|| format!("opening the store at `{}`", home.display()))?;
    let image = store.resolve(&args.image)?;
    let mut recorder = Recorder::open(&home)?;
    let mut facts = read_facts(&recorder.log)?;
    let trust = load_trust_recorded(&home, &mut recorder, &mut facts)?;
    let Some(policy) = trust.environment(&args.env) else {
        let known: Vec<&str> = trust.environments().keys().map(String::as_str).collect();
        return Err(UsageError(format!(
            "no environment `{}` in the trust file (known: {})",
            args.env,
            known.join(", ")
        ))
        .into());
    };
    let (key, _) = load_acting_key(&home, key)?;
    let identity = trust.by_key_id(key.key_id()).cloned();
    if let Some(identity) = &identity {
        recorder.set_actor(&identity.name);
    }
    let subject = image.digest.to_string();
    if let Err(refusal) = check_approval(
        identity.as_ref(),
        key.key_id(),
        &facts.key_revocations,
        &args.env,
        policy,
        &image.digest,
        facts.builds_of(&image.digest),
    ) {
        let index = refuse(
            &mut recorder,
            EventKind::Approve,
            &subject,
            &refusal,
            key.key_id(),
            Some(&args.env),
        )?;
        eprintln!("refused: recorded as a failed approve at log index {index}");
        return Err(refusal.into());
    }
    let signer = Signer {
        key,
        identity: identity.expect("check_approval refuses an unknown key"),
    };
    let image_name = image
        .descriptor
        .annotations
        .get(ANNOTATION_STAMP_NAME)
        .cloned()
        .or_else(|| {
            image
                .reference
                .as_deref()
                .and_then(|reference| reference.rsplit_once(':'))
                .map(|(name, _)| name.to_string())
        })
        .unwrap_or_else(|| image.digest.to_string());
    let statement = approval(&ApprovalFacts {
        approver: &signer.identity.name,
        keyid: signer.key.key_id(),
        image_name: &image_name,
        image_digest: &image.digest,
        environment: &args.env,
        comment: args.comment.as_deref(),
        approved_on: OffsetDateTime::now_utc(),
    });
    let signed = sign_and_attach(&store, &image.digest, &statement, &signer)?;
    let mut event = recorder
        .event(EventKind::Approve, Outcome::Success, &subject)
        .detail(detail::ENVIRONMENT, args.env.clone())
        .detail(
            "image",
            serde_json::json!({ "name": image_name, "digest": subject }),
        )
        .detail(detail::SIGNER, signer.detail())
        .detail(detail::ATTESTATION, signed.detail())
        .reference(image.digest)
        .reference(signed.referrer.manifest)
        .reference(signed.referrer.envelope);
    if let Some(comment) = &args.comment {
        event = event.detail("comment", comment.clone());
    }
    let index = recorder.append(event)?;
    let mut approvers = facts.approvers(&image.digest, &args.env);
    approvers.push(&signer.identity.name);
    let count = count_approvals(&args.env, policy, approvers);
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "image": image.digest,
                "environment": args.env,
                "approver": signer.identity.name,
                "key_id": signer.key.key_id(),
                "log_index": index,
                "attestation": signed.detail(),
                "approvals": count,
            }))?
        ),
        OutputFormat::Text => {
            eprintln!(
                "approved {} for `{}` as `{}` (log index {index})",
                image.digest, args.env, signer.identity.name
            );
            eprintln!("{}", approvals_line(&count));
            println!("{}", signed.referrer.manifest);
        }
    }
    Ok(0)
}

/// `prod: 1 of 2 distinct approvals (alice) — needs 1 more`
pub fn approvals_line(count: &ApprovalCount) -> String {
    let status = if count.satisfied {
        "approved".to_string()
    } else {
        format!(
            "needs {} more",
            count.required as usize - count.approvers.len().min(count.required as usize)
        )
    };
    format!(
        "{}: {} of {} distinct approvals ({}) - {status}",
        count.environment,
        count.approvers.len(),
        count.required,
        if count.approvers.is_empty() {
            "none".to_string()
        } else {
            count.approvers.join(", ")
        }
    )
}
