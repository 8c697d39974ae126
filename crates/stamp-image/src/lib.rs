//! Golden images: `stamp.toml`, reproducible builds into a local OCI store, file manifests and
//! the one safe unpacker.
//!
//! This crate owns the image half of stamp: parsing and validating the spec ([`spec`]),
//! building layers whose bytes depend only on their inputs ([`build`], [`tar`], [`gzip`]), the
//! OCI image layout store ([`store`], [`oci`]), the file manifest of the final root filesystem
//! ([`manifest`]) and extraction that never writes outside its destination ([`unpack`]).
//! It does not sign, log or scan: those crates consume what it produces.
//!
//! Standards: OCI image-spec v1.1 (image layout, manifest, config, layer changesets with
//! whiteouts), POSIX.1-2001 pax/ustar tar, RFC 1952 gzip, mtree(5).

pub mod build;
pub mod gzip;
pub mod layer;
pub mod manifest;
#[cfg(test)]
mod mutation_tests;
pub mod oci;
pub mod path;
pub mod scan;
pub mod spec;
pub mod store;
pub mod tar;
pub mod unpack;

pub use build::{build, BuildError, BuildOptions, BuildOutput};
pub use manifest::FileManifest;
pub use spec::{load as load_spec, Spec};
pub use store::Store;
pub use unpack::{unpack_image, UnpackLimits, UnpackOptions};
