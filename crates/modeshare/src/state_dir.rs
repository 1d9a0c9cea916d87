//! The state directory: checkpoint files written atomically (write to a temporary file, fsync
//! it, rename it over the old one, fsync the directory), so a crash leaves the previous
//! checkpoint or the new one, never a mix.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A directory of checkpoint files.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        StateDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The checkpoint file of a key (`["group", "topic", "3"]`); each part becomes one path
    /// component with anything but letters, digits, `-`, `_` and `.` escaped, so no name can
    /// leave the directory.
    pub fn file(&self, key: &[&str]) -> PathBuf {
        let mut path = self.root.clone();
        let (last, parents) = key.split_last().unwrap_or((&"state", &[]));
        for part in parents {
            path.push(component(part));
        }
        path.push(format!("{}.ckpt", component(last)));
        path
    }

    /// Replaces `path` with `bytes` atomically and durably.
    pub fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let dir = path.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir)?;
        let temporary = path.with_extension("ckpt.tmp");
        {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&temporary)?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        fs::rename(&temporary, path)?;
        File::open(dir)?.sync_all()
    }

    /// The file's bytes, or `None` when there is no checkpoint.
    pub fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn remove(&self, path: &Path) -> io::Result<()> {
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn component(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for c in part.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') || (c == '.' && !out.is_empty()) {
            out.push(c);
        } else {
            out.push_str(&format!("%{:02X}", u32::from(c)));
        }
    }
    if out.is_empty() { "%".into() } else { out }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn temp() -> StateDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "modeshare-state-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        StateDir::new(dir)
    }

    #[test]
    fn keys_stay_inside_the_directory() {
        let dir = StateDir::new("/state");
        assert_eq!(
            dir.file(&["modeshare", "trips.voi", "3"]),
            Path::new("/state/modeshare/trips.voi/3.ckpt")
        );
        assert_eq!(
            dir.file(&["..", "a/b", ""]),
            Path::new("/state/%2E./a%2Fb/%.ckpt")
        );
    }

    #[test]
    fn a_write_replaces_the_file_whole() {
        let dir = temp();
        let path = dir.file(&["g", "t", "0"]);
        assert_eq!(dir.read(&path).unwrap(), None);
        dir.write(&path, b"first").unwrap();
        dir.write(&path, b"second, longer").unwrap();
        assert_eq!(dir.read(&path).unwrap().unwrap(), b"second, longer");
        assert!(!path.with_extension("ckpt.tmp").exists());
        dir.remove(&path).unwrap();
        assert_eq!(dir.read(&path).unwrap(), None);
        fs::remove_dir_all(dir.root()).unwrap();
    }
}
