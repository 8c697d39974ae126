//! Shared helpers: a deterministic log key, sample events, the Go oracle, a small PRNG.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use stamp_core::{Event, EventKind, Origin, Outcome};
use stamp_log::{NoteSigner, SqliteLog};
use time::macros::datetime;

pub const ORIGIN: &str = "stamp.local/0123456789abcdef";

/// The deterministic test log key (named after the origin, as `stamp init` does).
pub fn signer() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, [7; 32]).expect("valid key name")
}

/// A fresh log in `directory`.
pub fn new_log(directory: &Path) -> (SqliteLog, NoteSigner) {
    let signer = signer();
    let log = SqliteLog::create(&directory.join("stamp.db"), ORIGIN, &signer).expect("create log");
    (log, signer)
}

/// An event with no projection effect, distinguishable by `label` and `sequence`.
pub fn note_event(label: &str, sequence: u64) -> Event {
    Event::builder()
        .actor(format!("{label}@example.com"))
        .kind(EventKind::Exception)
        .time(datetime!(2025-06-01 12:00:00 UTC))
        .outcome(Outcome::Success)
        .origin(Origin::new("test-host", "stamp-log-tests", 1))
        .subject(format!("{label}-{sequence}"))
        .detail("sequence", sequence)
        .detail("label", label)
        .build()
        .expect("valid event")
}

/// Where the Go oracle lives: `$ORACLES_HOME/bin/tlogverify`.
pub fn tlogverify_path() -> PathBuf {
    let home = std::env::var_os("ORACLES_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let user_home =
                std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
            user_home.join(".cache/stamp-oracles")
        });
    let path = home.join("bin/tlogverify");
    let setup = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/oracles/setup.sh");
    let setup = std::fs::canonicalize(&setup).unwrap_or(setup);
    assert!(
        path.is_file(),
        "the independent checker tlogverify is missing at `{}`\nhint: run `{}` (or set ORACLES_HOME)",
        path.display(),
        setup.display()
    );
    path
}

/// Run `tlogverify <subcommand>` with `input` on stdin: (exit code, parsed stdout).
pub fn tlogverify(subcommand: &str, input: &Value) -> (i32, Value) {
    let mut child = Command::new(tlogverify_path())
        .arg(subcommand)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tlogverify");
    let body = serde_json::to_vec(input).expect("serialize oracle input");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&body)
        .expect("write oracle input");
    let output = child.wait_with_output().expect("wait for tlogverify");
    let code = output.status.code().unwrap_or(-1);
    let parsed = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        Value::String(format!(
            "stdout: {} stderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    });
    (code, parsed)
}

/// splitmix64: a small deterministic generator for sampling.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }
}
