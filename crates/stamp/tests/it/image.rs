//! CLI tests of build, manifest and unpack.
