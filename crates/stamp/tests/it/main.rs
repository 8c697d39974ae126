//! Integration tests of the `stamp` binary: each runs the real binary in a temporary directory.

mod attest;
mod audit;
mod deploy;
mod evidence;
mod exposure;
mod gate;
mod image;
mod log;
mod scan;
mod support;
