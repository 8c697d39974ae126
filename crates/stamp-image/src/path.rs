//! Paths inside an image's root filesystem.
//!
//! Every path that comes from a tar header or a spec goes through [`ImagePath::parse`], which
//! refuses absolute paths, `..` components, NUL bytes and over-long paths, and drops `.` and
//! empty components. The result is a list of plain names below the root, so joining it to a
//! directory can never leave that directory by its own spelling (symlinks are the unpacker's
//! business).

use std::cmp::Ordering;
use std::fmt;

/// Longest path accepted, in bytes (Linux `PATH_MAX`).
pub const PATH_BYTES_MAX: usize = 4096;
/// Longest single component, in bytes (Linux `NAME_MAX`).
pub const NAME_BYTES_MAX: usize = 255;

/// A normalized path below the image root; the empty path is the root itself.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ImagePath {
    components: Vec<String>,
}

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("absolute path `{0}` (entries must be relative to the image root)")]
    Absolute(String),
    #[error("path `{0}` climbs out with `..`")]
    ParentComponent(String),
    #[error("path `{0}` contains a NUL byte")]
    Nul(String),
    #[error("path of {0} bytes is longer than {PATH_BYTES_MAX}")]
    TooLong(usize),
    #[error("path component of {0} bytes is longer than {NAME_BYTES_MAX}")]
    NameTooLong(usize),
}

impl ImagePath {
    /// The image root.
    pub fn root() -> Self {
        ImagePath {
            components: Vec::new(),
        }
    }

    /// Parse a path as found in a tar header: relative, optionally starting with `./`.
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        if raw.starts_with('/') {
            return Err(PathError::Absolute(raw.to_string()));
        }
        Self::parse_components(raw)
    }

    /// Parse an absolute path as written in stamp.toml (`/usr/local/bin/app`).
    pub fn parse_absolute(raw: &str) -> Result<Self, PathError> {
        match raw.strip_prefix('/') {
            Some(rest) => Self::parse_components(rest),
            None => Err(PathError::Absolute(raw.to_string())),
        }
    }

    fn parse_components(raw: &str) -> Result<Self, PathError> {
        if raw.len() > PATH_BYTES_MAX {
            return Err(PathError::TooLong(raw.len()));
        }
        if raw.contains('\0') {
            return Err(PathError::Nul(raw.escape_debug().to_string()));
        }
        let mut components = Vec::new();
        for component in raw.split('/') {
            match component {
                "" | "." => {}
                ".." => return Err(PathError::ParentComponent(raw.to_string())),
                name if name.len() > NAME_BYTES_MAX => {
                    return Err(PathError::NameTooLong(name.len()))
                }
                name => components.push(name.to_string()),
            }
        }
        Ok(ImagePath { components })
    }

    pub fn is_root(&self) -> bool {
        self.components.is_empty()
    }

    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// The last component; `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        self.components.last().map(String::as_str)
    }

    /// The parent directory; `None` for the root.
    pub fn parent(&self) -> Option<ImagePath> {
        if self.components.is_empty() {
            return None;
        }
        Some(ImagePath {
            components: self.components[..self.components.len() - 1].to_vec(),
        })
    }

    pub fn join(&self, name: &str) -> ImagePath {
        let mut components = self.components.clone();
        components.push(name.to_string());
        ImagePath { components }
    }

    /// Whether `self` is strictly below `ancestor`.
    pub fn is_below(&self, ancestor: &ImagePath) -> bool {
        self.components.len() > ancestor.components.len()
            && self.components[..ancestor.components.len()] == ancestor.components[..]
    }

    /// Relative form for tar headers (`usr/bin/app`), without a trailing slash.
    pub fn relative(&self) -> String {
        self.components.join("/")
    }

    /// Absolute form for people and manifests (`/usr/bin/app`, `/` for the root).
    pub fn absolute(&self) -> String {
        format!("/{}", self.components.join("/"))
    }
}

/// Component-wise order: a directory sorts before everything below it, and siblings sort by
/// their bytes. This is the order entries are written into layers.
impl Ord for ImagePath {
    fn cmp(&self, other: &Self) -> Ordering {
        self.components.cmp(&other.components)
    }
}

impl PartialOrd for ImagePath {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ImagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.absolute())
    }
}

impl fmt::Debug for ImagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImagePath({})", self.absolute())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_dots_and_slashes() {
        assert_eq!(ImagePath::parse("./a//b/./c/").unwrap().relative(), "a/b/c");
        assert!(ImagePath::parse("./").unwrap().is_root());
        assert_eq!(ImagePath::parse_absolute("/x/y").unwrap().relative(), "x/y");
    }

    #[test]
    fn refuses_escapes() {
        assert!(matches!(
            ImagePath::parse("a/../../etc"),
            Err(PathError::ParentComponent(_))
        ));
        assert!(matches!(
            ImagePath::parse("/etc/passwd"),
            Err(PathError::Absolute(_))
        ));
        assert!(matches!(
            ImagePath::parse_absolute("etc"),
            Err(PathError::Absolute(_))
        ));
        assert!(ImagePath::parse(&"a".repeat(PATH_BYTES_MAX)).is_err());
        assert!(ImagePath::parse(&"a".repeat(NAME_BYTES_MAX)).is_ok());
        assert!(ImagePath::parse(&"a".repeat(NAME_BYTES_MAX + 1)).is_err());
    }

    #[test]
    fn parents_sort_before_children() {
        let mut paths: Vec<ImagePath> = ["usr/local-x", "usr/local/bin", "usr", "usr/local"]
            .iter()
            .map(|p| ImagePath::parse(p).unwrap())
            .collect();
        paths.sort();
        let sorted: Vec<String> = paths.iter().map(ImagePath::relative).collect();
        assert_eq!(sorted, ["usr", "usr/local", "usr/local/bin", "usr/local-x"]);
    }
}
