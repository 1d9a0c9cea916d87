//! The state directory: checkpoint files written atomically (write to a temporary file, fsync
//! it, rename it over the old one, fsync the directory), so a crash leaves the previous
//! checkpoint or the new one, never a mix.
//!
//! A checkpoint holds what the city's events say (per-cell person trips, trip ids as hashes):
//! its files are readable by the service's user only (0600) and the directories it creates
//! are 0700. Each write goes through a temporary file of its own (process id, a counter and
//! random bits in its name), so two writers of one checkpoint — another instance given the
//! same directory, a replay beside a service — never write into each other's temporary file;
//! the last rename wins whole. Temporaries that a crash left behind are removed by the next
//! write of the same checkpoint once they are older than [`STALE_TEMPORARY`].
//!
//! [`StateDir::write_if`] replaces a file only while it still holds what the writer expects,
//! under a lock of that file's own (`.<name>.lock` beside it), so that of two writers that read
//! the same version only the first replaces it.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Checkpoint files: the service's user reads and writes them, nobody else.
pub const FILE_MODE: u32 = 0o600;
/// Directories the state directory creates (and those below its root it finds more open).
pub const DIR_MODE: u32 = 0o700;
/// A temporary file this old was left by a writer that died: no write takes this long.
pub const STALE_TEMPORARY: Duration = Duration::from_secs(600);

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
        let (last, parents) = key.split_last().unwrap_or((&"state", &[]));
        self.folder(parents)
            .join(format!("{}.ckpt", component(last)))
    }

    /// The folder of keys that start with `prefix` (each part escaped as in [`StateDir::file`]).
    pub fn folder(&self, prefix: &[&str]) -> PathBuf {
        let mut path = self.root.clone();
        for part in prefix {
            path.push(component(part));
        }
        path
    }

    /// Replaces `path` with `bytes` atomically and durably, as a 0600 file in 0700
    /// directories.
    pub fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let dir = path.parent().unwrap_or(&self.root);
        self.create_dirs(dir)?;
        let temporary = temporary_name(path);
        let written = write_new(&temporary, bytes).and_then(|()| fs::rename(&temporary, path));
        if let Err(e) = written {
            let _ = fs::remove_file(&temporary);
            return Err(e);
        }
        File::open(dir)?.sync_all()?;
        remove_stale_temporaries(path);
        Ok(())
    }

    /// Replaces `path` with `bytes` as [`StateDir::write`] does, but only when `expected` says
    /// yes to what the file holds now (`None`: no file); whether it was replaced. Writers of
    /// one file take turns: the check and the rename happen under the file's lock.
    pub fn write_if(
        &self,
        path: &Path,
        bytes: &[u8],
        expected: impl FnOnce(Option<&[u8]>) -> bool,
    ) -> io::Result<bool> {
        let dir = path.parent().unwrap_or(&self.root);
        self.create_dirs(dir)?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(dir.join(format!(".{name}.lock")))?;
        lock.lock()?;
        let current = self.read(path)?;
        if !expected(current.as_deref()) {
            return Ok(false);
        }
        self.write(path, bytes)?;
        Ok(true)
    }

    /// Creates `dir` and its parents 0700; directories below the root that exist with more
    /// than that (made by an older version) are closed to others. The root itself, when it
    /// exists, is the operator's (a mounted volume) and left as it is.
    fn create_dirs(&self, dir: &Path) -> io::Result<()> {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)?;
        let mut below = dir;
        while below != self.root && below.starts_with(&self.root) {
            let metadata = fs::metadata(below)?;
            if metadata.permissions().mode() & 0o077 != 0 {
                fs::set_permissions(below, fs::Permissions::from_mode(DIR_MODE))?;
            }
            match below.parent() {
                Some(parent) => below = parent,
                None => break,
            }
        }
        Ok(())
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

/// `bytes` in a new 0600 file at `path` (never an existing one: two writers never share it),
/// synced to disk.
fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// `3.ckpt` → `.3.ckpt.<pid>-<n>-<random>.tmp`: hidden, unique to this write, and recognisable
/// as a temporary of that checkpoint.
fn temporary_name(path: &Path) -> PathBuf {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(
        ".{name}.{}-{}-{:08x}.tmp",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    ))
}

/// Removes the temporaries of `path` older than [`STALE_TEMPORARY`]; what cannot be removed
/// stays for the next write to try.
fn remove_stale_temporaries(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        if !(file_name.starts_with(&prefix) && file_name.ends_with(".tmp")) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age > STALE_TEMPORARY);
        if old {
            let _ = fs::remove_file(entry.path());
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
        assert_eq!(
            entries(path.parent().unwrap()),
            ["0.ckpt"],
            "no temporary left"
        );
        dir.remove(&path).unwrap();
        assert_eq!(dir.read(&path).unwrap(), None);
        fs::remove_dir_all(dir.root()).unwrap();
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_conditional_write_replaces_only_the_expected_content() {
        let dir = temp();
        let path = dir.file(&["g", "t", "0"]);
        assert!(!dir.write_if(&path, b"a", |now| now.is_some()).unwrap());
        assert!(dir.write_if(&path, b"a", |now| now.is_none()).unwrap());
        assert!(!dir.write_if(&path, b"b", |now| now == Some(b"x")).unwrap());
        assert!(dir.write_if(&path, b"b", |now| now == Some(b"a")).unwrap());
        assert_eq!(dir.read(&path).unwrap().unwrap(), b"b");
        assert_eq!(mode(&path), 0o600);
        fs::remove_dir_all(dir.root()).unwrap();
    }

    #[test]
    fn of_writers_that_read_one_version_exactly_one_replaces_it() {
        let dir = temp();
        let path = dir.file(&["g", "t", "0"]);
        dir.write(&path, b"v0").unwrap();
        let replaced: Vec<bool> = std::thread::scope(|scope| {
            let writers: Vec<_> = (0..8u8)
                .map(|i| {
                    let (dir, path) = (&dir, &path);
                    scope.spawn(move || {
                        dir.write_if(path, &[b'w', i], |now| now == Some(b"v0"))
                            .unwrap()
                    })
                })
                .collect();
            writers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        assert_eq!(replaced.iter().filter(|r| **r).count(), 1, "{replaced:?}");
        fs::remove_dir_all(dir.root()).unwrap();
    }

    #[test]
    fn files_are_0600_in_0700_directories() {
        let dir = temp();
        let path = dir.file(&["g", "t", "0"]);
        dir.write(&path, b"state").unwrap();
        assert_eq!(mode(&path), 0o600);
        for d in [dir.root(), &dir.root().join("g"), &dir.root().join("g/t")] {
            assert_eq!(mode(d), 0o700, "{}", d.display());
        }
        // Directories an older version made open are closed at the next write; so is a file
        // it wrote, which the write replaces.
        fs::set_permissions(dir.root().join("g"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        dir.write(&path, b"state 2").unwrap();
        assert_eq!(mode(&dir.root().join("g")), 0o700);
        assert_eq!(mode(&path), 0o600);
        fs::remove_dir_all(dir.root()).unwrap();
    }

    #[test]
    fn an_existing_root_is_left_as_it_is() {
        let dir = temp();
        fs::create_dir_all(dir.root()).unwrap();
        fs::set_permissions(dir.root(), fs::Permissions::from_mode(0o750)).unwrap();
        dir.write(&dir.file(&["g", "0"]), b"state").unwrap();
        assert_eq!(mode(dir.root()), 0o750);
        assert_eq!(mode(&dir.root().join("g")), 0o700);
        fs::remove_dir_all(dir.root()).unwrap();
    }

    #[test]
    fn every_write_has_a_temporary_of_its_own() {
        let path = Path::new("/state/g/t/3.ckpt");
        let names: std::collections::BTreeSet<PathBuf> =
            (0..100).map(|_| temporary_name(path)).collect();
        assert_eq!(names.len(), 100);
        for name in &names {
            assert_eq!(name.parent(), path.parent());
            let file = name.file_name().unwrap().to_string_lossy();
            assert!(
                file.starts_with(".3.ckpt.") && file.ends_with(".tmp"),
                "{file}"
            );
        }
    }

    #[test]
    fn writers_of_one_checkpoint_on_threads_leave_one_whole_version() {
        let dir = temp();
        let path = dir.file(&["g", "t", "0"]);
        let versions: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 64 * 1024]).collect();
        std::thread::scope(|scope| {
            for version in &versions {
                let (dir, path) = (&dir, &path);
                scope.spawn(move || {
                    for _ in 0..5 {
                        dir.write(path, version).unwrap();
                    }
                });
            }
        });
        let read = dir.read(&path).unwrap().unwrap();
        assert!(versions.contains(&read), "a mix of versions");
        assert_eq!(entries(path.parent().unwrap()), ["0.ckpt"]);
        fs::remove_dir_all(dir.root()).unwrap();
    }

    #[test]
    fn temporaries_left_by_a_crash_are_removed_once_stale() {
        let dir = temp();
        let path = dir.file(&["g", "0"]);
        dir.write(&path, b"state").unwrap();
        let parent = path.parent().unwrap();
        let fresh = parent.join(".0.ckpt.1-0-00000000.tmp");
        let stale = parent.join(".0.ckpt.2-0-00000000.tmp");
        let other = parent.join(".1.ckpt.2-0-00000000.tmp");
        for f in [&fresh, &stale, &other] {
            fs::write(f, b"half").unwrap();
        }
        let long_ago = std::time::SystemTime::now() - STALE_TEMPORARY * 2;
        for f in [&stale, &other] {
            File::options()
                .write(true)
                .open(f)
                .unwrap()
                .set_modified(long_ago)
                .unwrap();
        }
        dir.write(&path, b"state 2").unwrap();
        assert!(
            fresh.exists(),
            "a write that may still be going on is left alone"
        );
        assert!(!stale.exists());
        assert!(
            other.exists(),
            "another checkpoint's temporaries are its own writes' to remove"
        );
        fs::remove_dir_all(dir.root()).unwrap();
    }
}
