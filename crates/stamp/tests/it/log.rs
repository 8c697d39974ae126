//! CLI tests of the log commands.
