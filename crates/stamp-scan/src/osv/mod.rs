//! The offline vulnerability database and matching, following the OSV schema.

pub mod db;
pub mod ecosystem;
pub mod import;
pub mod matching;
pub mod range;
pub mod record;

pub use db::{DbMeta, VulnDb};
pub use import::{import, ImportOptions, ImportReport};
