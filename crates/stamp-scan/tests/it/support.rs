//! Paths of the shared test data.

#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared` beside the checkout.
pub fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

pub fn vectors_dir() -> PathBuf {
    shared().join("oracles/versions/vectors")
}

pub fn osv_data() -> PathBuf {
    shared().join("data/osv")
}
