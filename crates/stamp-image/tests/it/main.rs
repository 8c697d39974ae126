//! Integration tests of stamp-image: hostile layers against the unpacker, reproducible builds.

mod agreement;
mod build;
mod hostile;
mod rawtar;
