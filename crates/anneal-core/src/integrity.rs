//! File integrity: SHA-256 digests of files, a folder's [`Manifest`] of them,
//! and its verification. Run folders and checkpoints carry a manifest, so a
//! flipped byte in a weights file is an error naming the file, never a model
//! that silently predicts something else.
//!
//! ```
//! use anneal_core::integrity::Manifest;
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("model.bpk"), b"weights")?;
//! Manifest::of_folder(dir.path(), &[])?.write(dir.path())?;
//! Manifest::verify(dir.path())?;
//! std::fs::write(dir.path().join("model.bpk"), b"weightz")?;
//! let err = Manifest::verify(dir.path()).unwrap_err();
//! assert!(err.to_string().contains("model.bpk"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{CoreError, Result};

/// The manifest's file name in the folder it describes.
pub const MANIFEST: &str = "manifest.json";

/// The size and SHA-256 of one file: what identifies its contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Length in bytes.
    pub size: u64,
    /// SHA-256 of the bytes, as 64 lowercase hex digits.
    pub sha256: String,
}

impl FileDigest {
    /// Reads `path` once, in blocks, and digests it.
    pub fn of_file(path: &Path) -> Result<Self> {
        let io = |source| CoreError::Io { path: path.to_path_buf(), source };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1 << 16];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buffer).map_err(io)?;
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(&buffer[..n]);
        }
        Ok(Self { size, sha256: hex(&hasher.finalize()) })
    }
}

impl FileDigest {
    /// The digest of a file, or of a folder (a folder of images): the SHA-256
    /// of every file's relative path and digest in sorted order, and the
    /// files' total size. Dot-files are left out.
    pub fn of_path(path: &Path) -> Result<Self> {
        if !path.is_dir() {
            return Self::of_file(path);
        }
        let manifest = Manifest::of_folder(path, &[])?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        for (name, digest) in &manifest.files {
            hasher.update(name.as_bytes());
            hasher.update([0]);
            hasher.update(digest.sha256.as_bytes());
            size += digest.size;
        }
        Ok(Self { size, sha256: hex(&hasher.finalize()) })
    }
}

impl std::fmt::Display for FileDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes, sha256 {}", self.size, self.sha256)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The digests of every file in a folder (recursively, by `/`-separated
/// relative path), written as `manifest.json` beside them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// Relative path → digest.
    pub files: BTreeMap<String, FileDigest>,
}

impl Manifest {
    /// Digests every regular file under `dir` except the manifest itself, the
    /// entries named in `skip` (file or folder names relative to `dir`, not
    /// descended into) and dot-files (such as the lock file).
    pub fn of_folder(dir: &Path, skip: &[&str]) -> Result<Self> {
        let mut files = BTreeMap::new();
        let mut pending = vec![(dir.to_path_buf(), String::new())];
        while let Some((folder, prefix)) = pending.pop() {
            let entries =
                std::fs::read_dir(&folder).map_err(|source| CoreError::Io { path: folder.clone(), source })?;
            for entry in entries {
                let entry = entry.map_err(|source| CoreError::Io { path: folder.clone(), source })?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let relative = format!("{prefix}{name}");
                if name.starts_with('.') || (prefix.is_empty() && name == MANIFEST) || skip.contains(&relative.as_str())
                {
                    continue;
                }
                let path = entry.path();
                let kind = entry.file_type().map_err(|source| CoreError::Io { path: path.clone(), source })?;
                if kind.is_dir() {
                    pending.push((path, format!("{relative}/")));
                } else if kind.is_file() {
                    files.insert(relative, FileDigest::of_file(&path)?);
                }
            }
        }
        Ok(Self { files })
    }

    /// Writes `manifest.json` into `dir` (through a temporary file and a rename,
    /// so a crash never leaves half a manifest).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST);
        let tmp = dir.join(format!(".{MANIFEST}.tmp"));
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| CoreError::Manifest { path: path.clone(), message: e.to_string() })?
            + "\n";
        std::fs::write(&tmp, json).map_err(|source| CoreError::Io { path: tmp.clone(), source })?;
        std::fs::rename(&tmp, &path).map_err(|source| CoreError::Io { path: path.clone(), source })
    }

    /// Reads `dir`'s manifest.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|source| CoreError::Io { path: path.clone(), source })?;
        serde_json::from_str(&text).map_err(|e| CoreError::Manifest { path, message: e.to_string() })
    }

    /// Checks every file `dir`'s manifest lists: present, same size, same
    /// SHA-256. The first that differs is an error naming it.
    pub fn verify(dir: &Path) -> Result<Self> {
        let manifest = Self::read(dir)?;
        manifest.check(dir)?;
        Ok(manifest)
    }

    /// Checks the files of this manifest under `dir`.
    pub fn check(&self, dir: &Path) -> Result<()> {
        for (name, expected) in &self.files {
            let path = dir.join(name);
            if !path.is_file() {
                return Err(CoreError::Integrity { path, message: "it is listed in manifest.json but missing".into() });
            }
            let actual = FileDigest::of_file(&path)?;
            if &actual != expected {
                return Err(CoreError::Integrity {
                    path,
                    message: format!(
                        "its contents changed after it was written ({actual}; manifest.json records {expected})"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The paths listed, relative to the folder.
    pub fn paths(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.files.keys().map(PathBuf::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_known_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        std::fs::write(&p, b"abc").unwrap();
        let d = FileDigest::of_file(&p).unwrap();
        // FIPS 180-2, appendix B.1.
        assert_eq!(d.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(d.size, 3);
    }

    #[test]
    fn manifest_covers_subfolders_and_names_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::create_dir(dir.path().join("skipped")).unwrap();
        std::fs::write(dir.path().join("sub/w.bin"), [1u8, 2, 3]).unwrap();
        std::fs::write(dir.path().join("skipped/x"), [0u8]).unwrap();
        std::fs::write(dir.path().join(".lock"), [0u8]).unwrap();
        let m = Manifest::of_folder(dir.path(), &["skipped"]).unwrap();
        assert_eq!(m.paths().collect::<Vec<_>>(), vec![PathBuf::from("sub/w.bin")]);
        m.write(dir.path()).unwrap();
        Manifest::verify(dir.path()).unwrap();
        std::fs::write(dir.path().join("sub/w.bin"), [1u8, 2, 4]).unwrap();
        let err = Manifest::verify(dir.path()).unwrap_err().to_string();
        assert!(err.contains("sub/w.bin") && err.contains("changed"), "{err}");
        std::fs::remove_file(dir.path().join("sub/w.bin")).unwrap();
        let err = Manifest::verify(dir.path()).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
    }
}
