//! Shared helpers for the CLI tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `stamp` binary under test.
pub fn stamp_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_stamp"))
}

/// Run `stamp ARGS` in `dir` with `STAMP_HOME` unset unless given through `env`.
pub fn stamp(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(stamp_binary());
    command
        .current_dir(dir)
        .args(args)
        .env_remove("STAMP_HOME")
        .env_remove("SOURCE_DATE_EPOCH");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the stamp binary runs")
}

/// Text of stdout and stderr, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `$ORACLES_HOME` (default `~/.cache/stamp-oracles`).
pub fn oracles_home() -> PathBuf {
    std::env::var_os("ORACLES_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/stamp-oracles")
        })
}

/// The shared oracles folder beside the checkout.
pub fn shared_oracles() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/oracles")
}
