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
///
/// It is kept as one string in relative form (`usr/bin/app`, empty for the root): a tree of a
/// million paths then costs one allocation per path, not one per component plus a vector.
/// Components are never empty and never contain `/`, so the string form and the list of
/// components say the same thing.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ImagePath {
    text: Box<str>,
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
        ImagePath { text: "".into() }
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
        let mut text = String::with_capacity(raw.len());
        for component in raw.split('/') {
            match component {
                "" | "." => {}
                ".." => return Err(PathError::ParentComponent(raw.to_string())),
                name if name.len() > NAME_BYTES_MAX => {
                    return Err(PathError::NameTooLong(name.len()))
                }
                name => {
                    if !text.is_empty() {
                        text.push('/');
                    }
                    text.push_str(name);
                }
            }
        }
        Ok(ImagePath {
            text: text.into_boxed_str(),
        })
    }

    pub fn is_root(&self) -> bool {
        self.text.is_empty()
    }

    /// The components from the root down (none for the root).
    pub fn components(&self) -> impl DoubleEndedIterator<Item = &str> + Clone + '_ {
        self.text.split('/').filter(|name| !name.is_empty())
    }

    /// The last component; `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        if self.is_root() {
            return None;
        }
        self.text.rsplit('/').next()
    }

    /// The parent directory; `None` for the root.
    pub fn parent(&self) -> Option<ImagePath> {
        if self.is_root() {
            return None;
        }
        let end = self.text.rfind('/').unwrap_or(0);
        Some(ImagePath {
            text: self.text[..end].into(),
        })
    }

    /// The path of `name` in this directory. `name` is one component: not empty, no `/`.
    pub fn join(&self, name: &str) -> ImagePath {
        debug_assert!(
            !name.is_empty() && !name.contains('/'),
            "`{name}` is not one path component"
        );
        if self.is_root() {
            return ImagePath { text: name.into() };
        }
        let mut text = String::with_capacity(self.text.len() + 1 + name.len());
        text.push_str(&self.text);
        text.push('/');
        text.push_str(name);
        ImagePath {
            text: text.into_boxed_str(),
        }
    }

    /// Whether `self` is strictly below `ancestor`.
    pub fn is_below(&self, ancestor: &ImagePath) -> bool {
        if ancestor.is_root() {
            return !self.is_root();
        }
        self.text.len() > ancestor.text.len()
            && self.text.starts_with(&*ancestor.text)
            && self.text.as_bytes()[ancestor.text.len()] == b'/'
    }

    /// The relative form as a borrowed string (`usr/bin/app`, empty for the root).
    pub fn as_relative(&self) -> &str {
        &self.text
    }

    /// Relative form for tar headers (`usr/bin/app`), without a trailing slash.
    pub fn relative(&self) -> String {
        self.text.to_string()
    }

    /// Absolute form for people and manifests (`/usr/bin/app`, `/` for the root).
    pub fn absolute(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 1);
        out.push('/');
        out.push_str(&self.text);
        out
    }
}

/// Component-wise order: a directory sorts before everything below it, and siblings sort by
/// their bytes. This is the order entries are written into layers.
///
/// On the string form that is byte order with `/` ranked below every other byte: at the first
/// byte where two paths differ, a `/` (or the end) on one side means its component ended
/// there, so it is a prefix of the other side's component and sorts first.
impl Ord for ImagePath {
    fn cmp(&self, other: &Self) -> Ordering {
        let (left, right) = (self.text.as_bytes(), other.text.as_bytes());
        let common = left
            .iter()
            .zip(right)
            .position(|(a, b)| a != b)
            .unwrap_or(left.len().min(right.len()));
        match (left.get(common), right.get(common)) {
            (Some(&a), Some(&b)) => rank(a).cmp(&rank(b)),
            _ => left.len().cmp(&right.len()),
        }
    }
}

/// A byte's place in path order: `/` first, then every byte in its own order.
fn rank(byte: u8) -> u16 {
    if byte == b'/' {
        0
    } else {
        u16::from(byte) + 1
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

    #[test]
    fn order_is_component_order() {
        // Names made of bytes on both sides of `/` (`-` and `.` sort below it, letters and
        // non-ASCII above), so every way two paths can first differ is covered.
        let names = ["", "a", "a-", "a.b", "a0", "ab", "b", "é", "\u{1}", "a b"];
        let mut paths = vec![ImagePath::root()];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..600 {
            let mut text = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let depth = 1 + (state % 4) as usize;
            for level in 0..depth {
                let name = names[((state >> (8 * level)) % names.len() as u64) as usize];
                text.push_str(if name.is_empty() { "x" } else { name });
                text.push('/');
            }
            paths.push(ImagePath::parse(&text).unwrap());
        }
        for left in &paths {
            for right in &paths {
                let by_components = left.components().cmp(right.components());
                assert_eq!(left.cmp(right), by_components, "{left:?} against {right:?}");
                assert_eq!(left == right, by_components == Ordering::Equal);
            }
        }
    }

    #[test]
    fn parent_name_join_and_below() {
        let path = ImagePath::parse("usr/local/bin").unwrap();
        assert_eq!(
            path.components().collect::<Vec<_>>(),
            ["usr", "local", "bin"]
        );
        assert_eq!(path.file_name(), Some("bin"));
        let parent = path.parent().unwrap();
        assert_eq!(parent.absolute(), "/usr/local");
        assert_eq!(parent.join("bin"), path);
        assert!(path.is_below(&parent));
        assert!(path.is_below(&ImagePath::root()));
        assert!(!path.is_below(&path));
        assert!(!ImagePath::parse("usr/local-x/y").unwrap().is_below(&parent));
        assert!(!ImagePath::parse("usr/localbin").unwrap().is_below(&parent));
        let top = ImagePath::parse("usr").unwrap();
        assert_eq!(top.parent(), Some(ImagePath::root()));
        assert_eq!(ImagePath::root().join("usr"), top);
        assert_eq!(ImagePath::root().parent(), None);
        assert_eq!(ImagePath::root().file_name(), None);
        assert_eq!(ImagePath::root().components().count(), 0);
        assert_eq!(ImagePath::root().absolute(), "/");
        assert_eq!(path.absolute(), "/usr/local/bin");
    }
}
