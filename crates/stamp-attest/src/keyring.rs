//! The local key directory (`<home>/keys`): one private key file per identity,
//! `<name>.pem`, mode 0600 in a 0700 directory; `default` holds the name of the key used when
//! none is named. A revoked key's file moves to `revoked/<name>.<key id prefix>.pem`, so the
//! name can take a new key (rotation) and the old file is kept for investigation.
//!
//! Which key acts (the acting identity): `--key` / `$STAMP_KEY` (a name in this directory,
//! or a path to a PEM file), else the name in `default`, else the only key there is.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use crate::keys::{IdentityKey, WriteKeyFileError};
use crate::trust::is_valid_identity_name;

/// The key directory inside the store directory.
pub const KEYS_DIR: &str = "keys";
/// The file naming the default key.
pub const DEFAULT_POINTER: &str = "default";
/// Where revoked keys' files go, inside the key directory.
pub const REVOKED_DIR: &str = "revoked";
/// Most key files considered in the directory.
pub const KEY_FILES_MAX: usize = 4096;

/// Why no acting key could be chosen.
#[derive(Debug, thiserror::Error)]
pub enum ResolveKeyError {
    #[error("there is no signing key in `{}`", .dir.display())]
    NoKeys { dir: PathBuf },
    #[error("there are {count} keys in `{}` and none is the default", .dir.display())]
    Ambiguous { dir: PathBuf, count: usize },
    #[error("no key named `{name}` in `{}`", .dir.display())]
    UnknownName { name: String, dir: PathBuf },
    #[error("`{name}` is not a valid key name")]
    InvalidName { name: String },
    #[error("reading the key directory `{}`", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Why a key could not be added to or moved in the directory.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error("`{name}` is not a valid key name (letters, digits and `._@+-`)")]
    InvalidName { name: String },
    #[error("creating the key directory `{}`", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Write(#[from] WriteKeyFileError),
}

/// The key directory of one store.
#[derive(Clone, Debug)]
pub struct KeyRing {
    dir: PathBuf,
}

impl KeyRing {
    pub fn new(home: &Path) -> KeyRing {
        KeyRing {
            dir: home.join(KEYS_DIR),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The private key file of `name`.
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pem"))
    }

    /// Names of the keys in the directory, sorted.
    pub fn names(&self) -> Result<Vec<String>, ResolveKeyError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(ResolveKeyError::Io {
                    path: self.dir.clone(),
                    source,
                })
            }
        };
        let mut names = Vec::new();
        for entry in entries.take(KEY_FILES_MAX) {
            let entry = entry.map_err(|source| ResolveKeyError::Io {
                path: self.dir.clone(),
                source,
            })?;
            let file_name = entry.file_name();
            let Some(name) = file_name
                .to_str()
                .and_then(|name| name.strip_suffix(".pem"))
            else {
                continue;
            };
            if is_valid_identity_name(name) && entry.path().is_file() {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// The name in the `default` file, if there is one.
    pub fn default_name(&self) -> Result<Option<String>, ResolveKeyError> {
        let path = self.dir.join(DEFAULT_POINTER);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text.trim().to_string()).filter(|name| !name.is_empty())),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ResolveKeyError::Io { path, source }),
        }
    }

    /// Make `name` the default key.
    pub fn set_default(&self, name: &str) -> Result<(), KeyRingError> {
        self.create_dir()?;
        let path = self.dir.join(DEFAULT_POINTER);
        stamp_image::store::write_atomic(&path, format!("{name}\n").as_bytes()).map_err(|error| {
            KeyRingError::Io {
                path,
                source: io::Error::other(error),
            }
        })
    }

    fn create_dir(&self) -> Result<(), KeyRingError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|source| KeyRingError::Io {
                path: self.dir.clone(),
                source,
            })
    }

    /// Write `key` as the key of `name` (refuses an existing file).
    pub fn create(
        &self,
        name: &str,
        key: &IdentityKey,
        passphrase: Option<&[u8]>,
    ) -> Result<PathBuf, KeyRingError> {
        if !is_valid_identity_name(name) {
            return Err(KeyRingError::InvalidName {
                name: name.to_string(),
            });
        }
        self.create_dir()?;
        let path = self.path_of(name);
        key.write_new_file(&path, passphrase)?;
        Ok(path)
    }

    /// Move the key file of `name` (with `key_id`) out of the way after its revocation.
    /// Returns the new path, or `None` when there was no file.
    pub fn retire(&self, name: &str, key_id: &str) -> Result<Option<PathBuf>, KeyRingError> {
        let from = self.path_of(name);
        if !from.is_file() {
            return Ok(None);
        }
        let revoked = self.dir.join(REVOKED_DIR);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&revoked)
            .map_err(|source| KeyRingError::Io {
                path: revoked.clone(),
                source,
            })?;
        let prefix = &key_id[..key_id.len().min(16)];
        let to = revoked.join(format!("{name}.{prefix}.pem"));
        fs::rename(&from, &to).map_err(|source| KeyRingError::Io {
            path: from.clone(),
            source,
        })?;
        Ok(Some(to))
    }

    /// The acting key file: `explicit` (a name here or a path), else the default, else the
    /// only key.
    pub fn resolve(&self, explicit: Option<&str>) -> Result<PathBuf, ResolveKeyError> {
        if let Some(value) = explicit {
            if value.contains('/') || value.ends_with(".pem") {
                return Ok(PathBuf::from(value));
            }
            return self.named(value);
        }
        if let Some(name) = self.default_name()? {
            return self.named(&name);
        }
        let names = self.names()?;
        match names.as_slice() {
            [] => Err(ResolveKeyError::NoKeys {
                dir: self.dir.clone(),
            }),
            [only] => Ok(self.path_of(only)),
            _ => Err(ResolveKeyError::Ambiguous {
                dir: self.dir.clone(),
                count: names.len(),
            }),
        }
    }

    fn named(&self, name: &str) -> Result<PathBuf, ResolveKeyError> {
        if !is_valid_identity_name(name) {
            return Err(ResolveKeyError::InvalidName {
                name: name.to_string(),
            });
        }
        let path = self.path_of(name);
        if !path.is_file() {
            return Err(ResolveKeyError::UnknownName {
                name: name.to_string(),
                dir: self.dir.clone(),
            });
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_order_and_retirement() {
        let home = tempfile::tempdir().unwrap();
        let ring = KeyRing::new(home.path());
        assert!(matches!(
            ring.resolve(None),
            Err(ResolveKeyError::NoKeys { .. })
        ));
        let alice = IdentityKey::generate();
        ring.create("alice", &alice, None).unwrap();
        assert_eq!(ring.resolve(None).unwrap(), ring.path_of("alice"));
        ring.create("bob", &IdentityKey::generate(), None).unwrap();
        assert!(matches!(
            ring.resolve(None),
            Err(ResolveKeyError::Ambiguous { count: 2, .. })
        ));
        ring.set_default("bob").unwrap();
        assert_eq!(ring.resolve(None).unwrap(), ring.path_of("bob"));
        assert_eq!(ring.resolve(Some("alice")).unwrap(), ring.path_of("alice"));
        assert_eq!(
            ring.resolve(Some("/elsewhere/k.pem")).unwrap(),
            PathBuf::from("/elsewhere/k.pem")
        );
        assert!(matches!(
            ring.resolve(Some("carol")),
            Err(ResolveKeyError::UnknownName { .. })
        ));
        assert!(matches!(
            ring.create("../x", &alice, None),
            Err(KeyRingError::InvalidName { .. })
        ));
        let moved = ring.retire("alice", alice.key_id()).unwrap().unwrap();
        assert!(moved.starts_with(ring.dir().join(REVOKED_DIR)));
        assert_eq!(ring.names().unwrap(), vec!["bob"]);
        // The name can take a new key now.
        ring.create("alice", &IdentityKey::generate(), None)
            .unwrap();
    }
}
