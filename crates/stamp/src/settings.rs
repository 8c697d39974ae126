//! Where things are: settings resolved from flags, environment and the spec's location into
//! plain values before any work starts.

use std::path::{Path, PathBuf};

/// The store directory for a command: `--home`/$STAMP_HOME, else `.stamp` beside `spec`, else
/// `.stamp` beside the nearest stamp.toml above the working directory, else `./.stamp`.
pub fn home(flag: Option<&Path>, spec: Option<&Path>) -> PathBuf {
    if let Some(home) = flag {
        return home.to_path_buf();
    }
    if let Some(spec) = spec {
        let dir = spec.parent().filter(|dir| !dir.as_os_str().is_empty());
        return dir.unwrap_or(Path::new(".")).join(".stamp");
    }
    if let Ok(current) = std::env::current_dir() {
        for dir in current.ancestors() {
            if dir.join("stamp.toml").is_file() {
                return dir.join(".stamp");
            }
        }
    }
    PathBuf::from(".stamp")
}
