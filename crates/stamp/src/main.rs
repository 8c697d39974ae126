//! The `stamp` binary: parses arguments, resolves settings, calls the library crates, renders
//! results, and maps failures to exit codes.
//!
//! Exit codes are interface: 0 ok; 1 policy or verification said no (a refused layer, a
//! corrupt blob); 2 usage or configuration error (a bad stamp.toml, an unknown image);
//! 3 internal or environment error (I/O, a missing tool).

mod cli;
mod commands;
mod recorder;
mod settings;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            let code = commands::exit_code(&error);
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {error}");
            for cause in error.chain().skip(1) {
                let _ = writeln!(stderr, "  caused by: {cause}");
            }
            if let Some(hint) = commands::hint(&error) {
                let _ = writeln!(stderr, "hint: {hint}");
            }
            ExitCode::from(code)
        }
    }
}

/// Rust ignores SIGPIPE, so `stamp log show | head` would panic on a closed pipe. A command-line
/// tool should stop quietly instead, as every Unix filter does.
fn restore_default_sigpipe() {
    // SAFETY: called first thing in `main`, before any thread exists; setting a signal to its
    // default disposition has no other precondition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
