//! Integration tests of stamp-log: one test binary (ripgrep-style), one module per concern.
//!
//! The independent checker `tlogverify` (Go's golang.org/x/mod/sumdb/{tlog,note}) must be
//! installed by `../shared/oracles/setup.sh`; tests that need it fail, not skip, without it.

mod oracle;
mod process;
mod projection;
mod store;
mod support;
mod tamper;
mod vectors;
