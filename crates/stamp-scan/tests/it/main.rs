//! Integration tests of stamp-scan against real data in `../shared` (oracle vectors, OSV
//! records, cargo-audit reference results).

mod differential;
mod osv;
mod support;
mod versions;
