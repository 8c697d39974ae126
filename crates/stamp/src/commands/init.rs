//! `stamp init`

use std::path::Path;

use anyhow::Context;
use stamp_image::Store;
use stamp_log::LogStore;

use crate::cli::{InitArgs, OutputFormat};
use crate::recorder::Recorder;

pub fn run(home: Option<&Path>, args: InitArgs) -> anyhow::Result<u8> {
    let home = crate::settings::home(home, None);
    Store::open_or_create(&home)
        .with_context(|| format!("creating the store at `{}`", home.display()))?;
    let initialized = Recorder::open_or_init(&home)?;
    let recorder = &initialized.recorder;
    let size = recorder.log.size()?;
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "home": home,
                "created": initialized.created,
                "origin": recorder.log.origin(),
                "verifier_key": recorder.verifier_key(),
                "log_size": size,
            }))?
        ),
        OutputFormat::Text => {
            if initialized.created {
                eprintln!("initialized stamp store at {}", home.display());
            } else {
                eprintln!(
                    "stamp store at {} already initialized ({size} log entries)",
                    home.display()
                );
            }
            eprintln!("log origin    {}", recorder.log.origin());
            eprintln!(
                "log key       {} (keep private)",
                home.join(crate::recorder::LOG_KEY).display()
            );
            eprintln!(
                "verifier key  (also in {})",
                home.join(crate::recorder::LOG_VERIFIER).display()
            );
            println!("{}", recorder.verifier_key());
        }
    }
    Ok(0)
}
