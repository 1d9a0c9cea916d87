//! Where the live service keeps its partitions' checkpoints: a directory on this machine
//! (`[state] dir`, the default, or `[state] url = "file:///…"`), or an object store every
//! instance reaches (`s3://bucket/prefix`, S3 and S3-compatible stores; `gs://` and `az://`),
//! through the `object_store` crate.
//!
//! Every write is conditional: it replaces a checkpoint only if the checkpoint is still the
//! version this instance read or wrote last ([`Version`]), and creates one only where there is
//! none. An object store checks that itself (`If-Match`, `If-None-Match`); the directory
//! compares and renames under the file's lock ([`StateDir::write_if`]). A write that finds
//! another version answers [`StoreError::Conflict`]: somebody else wrote the checkpoint since.
//!
//! Object stores are asynchronous, checkpoints are written from blocking code (the rebalance
//! callback, blocking tasks): the store runs its requests on a small runtime of its own, and
//! the caller's thread waits for the answer.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload, UpdateVersion};
use xxhash_rust::xxh3::xxh3_128;

use crate::state_dir::StateDir;

/// Where checkpoints are kept, as configured (`[state] url` and `[state.options]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A directory on this machine.
    Directory(PathBuf),
    /// An object store's URL, with the options its builder takes (`aws_endpoint`, …).
    Object {
        url: url::Url,
        options: BTreeMap<String, String>,
    },
}

impl StoreLocation {
    /// `[state] url`: `file:///dir` (a directory), `s3://`, `s3a://`, `gs://`, `az://`,
    /// `azure://`, `abfs://`, `abfss://`, or `memory:///` (a store in this process, for tests).
    pub fn parse(url: &str, options: BTreeMap<String, String>) -> Result<StoreLocation, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        match parsed.scheme() {
            "file" => parsed
                .to_file_path()
                .map(StoreLocation::Directory)
                .map_err(|()| format!("{url:?} is not an absolute file:/// path")),
            "s3" | "s3a" | "gs" | "az" | "azure" | "abfs" | "abfss" | "memory" => {
                Ok(StoreLocation::Object {
                    url: parsed,
                    options,
                })
            }
            other => Err(format!(
                "{url:?}: the scheme {other:?} is not a checkpoint store; use file, s3, gs or az"
            )),
        }
    }
}

/// The directory, or the store's URL (its options, which may hold secrets, left out).
impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Directory(dir) => write!(f, "{}", dir.display()),
            StoreLocation::Object { url, .. } => write!(f, "{url}"),
        }
    }
}

/// The version of a checkpoint that a conditional write expects to replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// A file: the hash of its bytes.
    File(u128),
    /// An object: its entity tag and version, as the store gave them.
    Object(UpdateVersion),
}

/// A checkpoint's bytes and version.
#[derive(Debug)]
pub struct Stored {
    pub bytes: Vec<u8>,
    pub version: Version,
}

/// An entry of [`CheckpointStore::list`]: where it is, and a tag that changes whenever it is
/// written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub location: String,
    pub tag: String,
}

/// Why a checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The checkpoint is not the version the write expected: another writer got there first.
    #[error("{0} was written by another instance since this one read it")]
    Conflict(String),
    #[error("{location}: {error}")]
    Io { location: String, error: io::Error },
    #[error("{location}: {error}")]
    Object {
        location: String,
        error: object_store::Error,
    },
}

/// The checkpoint store.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Directory(StateDir),
    Object(Arc<ObjectBackend>),
}

impl CheckpointStore {
    /// The store at `location`; an object store's credentials come from its options and the
    /// environment (`AWS_ACCESS_KEY_ID`, `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_KEY`,
    /// … as the `object_store` crate reads them).
    pub fn open(location: &StoreLocation) -> Result<CheckpointStore, String> {
        let backend = match location {
            StoreLocation::Directory(dir) => Backend::Directory(StateDir::new(dir)),
            StoreLocation::Object { url, options } => {
                let store = object_store_at(url, options)?;
                let prefix =
                    ObjectPath::from_url_path(url.path()).map_err(|e| format!("{url}: {e}"))?;
                Backend::Object(Arc::new(ObjectBackend::new(store, url.clone(), prefix)?))
            }
        };
        Ok(CheckpointStore { backend })
    }

    /// A store of objects held in this process (tests).
    #[cfg(test)]
    pub fn in_memory() -> CheckpointStore {
        let url = url::Url::parse("memory:///").unwrap_or_else(|_| unreachable!());
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        match ObjectBackend::new(store, url, ObjectPath::default()) {
            Ok(backend) => CheckpointStore {
                backend: Backend::Object(Arc::new(backend)),
            },
            Err(e) => panic!("cannot start the in-memory store's runtime: {e}"),
        }
    }

    /// Where a key's checkpoint is, for messages: a file's path or an object's URL.
    pub fn location(&self, key: &[&str]) -> String {
        match &self.backend {
            Backend::Directory(dir) => dir.file(key).display().to_string(),
            Backend::Object(object) => object.url_of(&object.path(key)),
        }
    }

    /// Where a key's checkpoint is as [`CheckpointStore::list`] names it: a file's path or an
    /// object's path in its store.
    pub fn listed_location(&self, key: &[&str]) -> String {
        match &self.backend {
            Backend::Directory(dir) => dir.file(key).display().to_string(),
            Backend::Object(object) => object.path(key).to_string(),
        }
    }

    /// A key's checkpoint with its version, or `None` when there is none.
    pub fn read(&self, key: &[&str]) -> Result<Option<Stored>, StoreError> {
        match &self.backend {
            Backend::Directory(dir) => {
                let path = dir.file(key);
                let bytes = dir.read(&path).map_err(|error| StoreError::Io {
                    location: path.display().to_string(),
                    error,
                })?;
                Ok(bytes.map(|bytes| Stored {
                    version: Version::File(xxh3_128(&bytes)),
                    bytes,
                }))
            }
            Backend::Object(object) => object.read(&object.path(key)),
        }
    }

    /// Writes a key's checkpoint if the store still holds `expected` (`None`: if it holds
    /// none); its new version. [`StoreError::Conflict`] when it holds another.
    pub fn write(
        &self,
        key: &[&str],
        bytes: &[u8],
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        match &self.backend {
            Backend::Directory(dir) => {
                let path = dir.file(key);
                let location = || path.display().to_string();
                let replaced = dir
                    .write_if(&path, bytes, |now| match (now, expected) {
                        (None, None) => true,
                        (Some(now), Some(Version::File(hash))) => xxh3_128(now) == *hash,
                        _ => false,
                    })
                    .map_err(|error| StoreError::Io {
                        location: location(),
                        error,
                    })?;
                if replaced {
                    Ok(Version::File(xxh3_128(bytes)))
                } else {
                    Err(StoreError::Conflict(location()))
                }
            }
            Backend::Object(object) => object.write(&object.path(key), bytes, expected),
        }
    }

    /// Writes a key's bytes whatever the store holds (for what only its writer writes, and
    /// readers may read a little late).
    pub fn replace(&self, key: &[&str], bytes: &[u8]) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Directory(dir) => {
                let path = dir.file(key);
                dir.write(&path, bytes).map_err(|error| StoreError::Io {
                    location: path.display().to_string(),
                    error,
                })
            }
            Backend::Object(object) => object.replace(&object.path(key), bytes),
        }
    }

    /// Everything stored under the keys that start with `prefix`.
    pub fn list(&self, prefix: &[&str]) -> Result<Vec<Listed>, StoreError> {
        match &self.backend {
            Backend::Directory(dir) => {
                let folder = dir.folder(prefix);
                let mut listed = Vec::new();
                list_files(&folder, &mut listed).map_err(|error| StoreError::Io {
                    location: folder.display().to_string(),
                    error,
                })?;
                Ok(listed)
            }
            Backend::Object(object) => object.list(&object.prefixed(prefix)),
        }
    }

    /// The bytes at a location [`CheckpointStore::list`] gave, or `None` when they are gone.
    pub fn read_listed(&self, location: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.backend {
            Backend::Directory(_) => match std::fs::read(location) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(error) => Err(StoreError::Io {
                    location: location.to_owned(),
                    error,
                }),
            },
            Backend::Object(object) => {
                let path = ObjectPath::parse(location).map_err(|e| StoreError::Object {
                    location: location.to_owned(),
                    error: e.into(),
                })?;
                Ok(object.read(&path)?.map(|stored| stored.bytes))
            }
        }
    }

    /// Removes what is at a location [`CheckpointStore::list`] gave (gone already is fine).
    pub fn remove_listed(&self, location: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Directory(_) => match std::fs::remove_file(location) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StoreError::Io {
                    location: location.to_owned(),
                    error: e,
                }),
                _ => Ok(()),
            },
            Backend::Object(object) => {
                let path = ObjectPath::parse(location).map_err(|e| StoreError::Object {
                    location: location.to_owned(),
                    error: e.into(),
                })?;
                object.remove(&path)
            }
        }
    }

    /// Moves a key's checkpoint aside (`….ckpt.rejected`), so that it is kept for a look but
    /// no longer read; where it is now.
    pub fn set_aside(&self, key: &[&str]) -> Result<String, StoreError> {
        match &self.backend {
            Backend::Directory(dir) => {
                let path = dir.file(key);
                let aside = path.with_extension("ckpt.rejected");
                std::fs::rename(&path, &aside).map_err(|error| StoreError::Io {
                    location: path.display().to_string(),
                    error,
                })?;
                Ok(aside.display().to_string())
            }
            Backend::Object(object) => object.set_aside(&object.path(key)),
        }
    }
}

/// The files under `folder` (two levels at most: topic folders, then files; no temporaries),
/// tagged by modification time and length.
fn list_files(folder: &std::path::Path, listed: &mut Vec<Listed>) -> io::Result<()> {
    fn walk(folder: &std::path::Path, depth: u8, listed: &mut Vec<Listed>) -> io::Result<()> {
        let entries = match std::fs::read_dir(folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let metadata = entry.metadata()?;
            if metadata.is_dir() && depth > 0 {
                walk(&entry.path(), depth - 1, listed)?;
            } else if metadata.is_file() {
                let modified = metadata
                    .modified()
                    .ok()
                    .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                listed.push(Listed {
                    location: entry.path().display().to_string(),
                    tag: format!("{modified}-{}", metadata.len()),
                });
            }
        }
        Ok(())
    }
    walk(folder, 2, listed)
}

/// The `object_store` store for a URL, its credentials from the environment and `options`.
fn object_store_at(
    url: &url::Url,
    options: &BTreeMap<String, String>,
) -> Result<Arc<dyn ObjectStore>, String> {
    fn configured<K: FromStr, B>(
        mut builder: B,
        options: &BTreeMap<String, String>,
        with: impl Fn(B, K, &str) -> B,
    ) -> Result<B, String> {
        for (key, value) in options {
            let key_of = K::from_str(key)
                .map_err(|_| format!("[state.options] {key:?} is not an option of this store"))?;
            builder = with(builder, key_of, value);
        }
        Ok(builder)
    }
    let failed = |e: object_store::Error| format!("{url}: {e}");
    // A checkpoint is claimed inside a rebalance, which the group does not wait on for ever:
    // each request is bounded, and retried for 20 s at most (the options may say otherwise).
    let client = object_store::ClientOptions::new()
        .with_timeout(std::time::Duration::from_secs(15))
        .with_connect_timeout(std::time::Duration::from_secs(5));
    let retry = object_store::RetryConfig {
        max_retries: 3,
        retry_timeout: std::time::Duration::from_secs(20),
        ..object_store::RetryConfig::default()
    };
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "s3" | "s3a" => {
            use object_store::aws::AmazonS3Builder;
            let builder = AmazonS3Builder::from_env()
                .with_url(url.as_str())
                .with_client_options(client)
                .with_retry(retry);
            let builder = configured(builder, options, |b, k, v| b.with_config(k, v))?;
            Arc::new(builder.build().map_err(failed)?)
        }
        "gs" => {
            use object_store::gcp::GoogleCloudStorageBuilder;
            let builder = GoogleCloudStorageBuilder::from_env()
                .with_url(url.as_str())
                .with_client_options(client)
                .with_retry(retry);
            let builder = configured(builder, options, |b, k, v| b.with_config(k, v))?;
            Arc::new(builder.build().map_err(failed)?)
        }
        "az" | "azure" | "abfs" | "abfss" => {
            use object_store::azure::MicrosoftAzureBuilder;
            let builder = MicrosoftAzureBuilder::from_env()
                .with_url(url.as_str())
                .with_client_options(client)
                .with_retry(retry);
            let builder = configured(builder, options, |b, k, v| b.with_config(k, v))?;
            Arc::new(builder.build().map_err(failed)?)
        }
        "memory" => Arc::new(object_store::memory::InMemory::new()),
        other => return Err(format!("{url}: {other:?} is not an object store")),
    };
    Ok(store)
}

/// An object store, and the runtime its requests run on.
struct ObjectBackend {
    store: Arc<dyn ObjectStore>,
    url: url::Url,
    prefix: ObjectPath,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for ObjectBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBackend")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl Drop for ObjectBackend {
    fn drop(&mut self) {
        // Dropped from asynchronous code too, where a runtime may not wait for its threads.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl ObjectBackend {
    fn new(
        store: Arc<dyn ObjectStore>,
        url: url::Url,
        prefix: ObjectPath,
    ) -> Result<ObjectBackend, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("checkpoint-store")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the checkpoint store's runtime: {e}"))?;
        Ok(ObjectBackend {
            store,
            url,
            prefix,
            runtime: Some(runtime),
        })
    }

    /// `<prefix>/group/topic/3.ckpt`; each part is one path segment (`object_store` encodes
    /// what a segment may not hold).
    fn path(&self, key: &[&str]) -> ObjectPath {
        let (last, parents) = key.split_last().unwrap_or((&"state", &[]));
        self.prefixed(parents).child(format!("{last}.ckpt"))
    }

    /// `<prefix>/a/b` for the key prefix `["a", "b"]`.
    fn prefixed(&self, parts: &[&str]) -> ObjectPath {
        self.prefix
            .parts()
            .chain(parts.iter().map(|p| (*p).into()))
            .collect()
    }

    fn url_of(&self, path: &ObjectPath) -> String {
        let mut url = self.url.clone();
        url.set_path(&format!("/{path}"));
        url.to_string()
    }

    /// Runs a request on the store's runtime; the calling thread waits for it.
    fn run<T: Send + 'static>(
        &self,
        request: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, object_store::Error> {
        let Some(runtime) = &self.runtime else {
            return Err(generic("the checkpoint store is closed"));
        };
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = answer.send(request.await);
        });
        answered
            .recv()
            .map_err(|_| generic("the checkpoint store's request was dropped"))
    }

    fn read(&self, path: &ObjectPath) -> Result<Option<Stored>, StoreError> {
        let (store, at) = (self.store.clone(), path.clone());
        let got = self.run(async move {
            let got = store.get(&at).await?;
            let version = UpdateVersion {
                e_tag: got.meta.e_tag.clone(),
                version: got.meta.version.clone(),
            };
            Ok::<_, object_store::Error>((got.bytes().await?, version))
        });
        match got.and_then(|answer| answer) {
            Ok((bytes, version)) => Ok(Some(Stored {
                bytes: bytes.to_vec(),
                version: Version::Object(version),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(StoreError::Object {
                location: self.url_of(path),
                error,
            }),
        }
    }

    fn write(
        &self,
        path: &ObjectPath,
        bytes: &[u8],
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        let mode = match expected {
            None => PutMode::Create,
            Some(Version::Object(version)) => PutMode::Update(version.clone()),
            // A file's version never matches an object.
            Some(Version::File(_)) => return Err(StoreError::Conflict(self.url_of(path))),
        };
        let (store, at) = (self.store.clone(), path.clone());
        let payload = PutPayload::from(bytes.to_vec());
        let put = self.run(async move {
            let options = PutOptions {
                mode,
                ..PutOptions::default()
            };
            store.put_opts(&at, payload, options).await
        });
        match put.and_then(|answer| answer) {
            Ok(written) => Ok(Version::Object(UpdateVersion::from(written))),
            Err(object_store::Error::Precondition { .. })
            | Err(object_store::Error::AlreadyExists { .. }) => {
                Err(StoreError::Conflict(self.url_of(path)))
            }
            Err(error) => Err(StoreError::Object {
                location: self.url_of(path),
                error,
            }),
        }
    }

    fn replace(&self, path: &ObjectPath, bytes: &[u8]) -> Result<(), StoreError> {
        let (store, at) = (self.store.clone(), path.clone());
        let payload = PutPayload::from(bytes.to_vec());
        let put = self.run(async move { store.put(&at, payload).await });
        match put.and_then(|answer| answer) {
            Ok(_) => Ok(()),
            Err(error) => Err(StoreError::Object {
                location: self.url_of(path),
                error,
            }),
        }
    }

    fn list(&self, prefix: &ObjectPath) -> Result<Vec<Listed>, StoreError> {
        use futures_util::TryStreamExt;
        let (store, at) = (self.store.clone(), prefix.clone());
        let listed = self.run(async move {
            let objects: Vec<object_store::ObjectMeta> =
                store.list(Some(&at)).try_collect().await?;
            Ok::<_, object_store::Error>(objects)
        });
        match listed.and_then(|answer| answer) {
            Ok(objects) => Ok(objects
                .into_iter()
                .map(|meta| Listed {
                    tag: meta.e_tag.clone().unwrap_or_else(|| {
                        format!("{}-{}", meta.last_modified.timestamp_micros(), meta.size)
                    }),
                    location: meta.location.to_string(),
                })
                .collect()),
            Err(error) => Err(StoreError::Object {
                location: self.url_of(prefix),
                error,
            }),
        }
    }

    fn remove(&self, path: &ObjectPath) -> Result<(), StoreError> {
        let (store, at) = (self.store.clone(), path.clone());
        match self
            .run(async move { store.delete(&at).await })
            .and_then(|a| a)
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(StoreError::Object {
                location: self.url_of(path),
                error,
            }),
        }
    }

    fn set_aside(&self, path: &ObjectPath) -> Result<String, StoreError> {
        let aside = ObjectPath::from(format!("{path}.rejected"));
        let (store, from, to) = (self.store.clone(), path.clone(), aside.clone());
        let moved = self.run(async move { store.rename(&from, &to).await });
        match moved.and_then(|answer| answer) {
            Ok(()) => Ok(self.url_of(&aside)),
            Err(error) => Err(StoreError::Object {
                location: self.url_of(path),
                error,
            }),
        }
    }
}

fn generic(message: &'static str) -> object_store::Error {
    object_store::Error::Generic {
        store: "checkpoint store",
        source: message.into(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn directory() -> (CheckpointStore, PathBuf) {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "modeshare-store-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let store = CheckpointStore::open(&StoreLocation::Directory(dir.clone())).unwrap();
        (store, dir)
    }

    /// The same rules on every backend: create only where there is none, replace only the
    /// version read, a stale writer refused whatever it writes.
    fn conditional_writes_hold(store: &CheckpointStore) {
        let key = ["g", "trips", "3"];
        assert!(store.read(&key).unwrap().is_none());
        let first = store.write(&key, b"state 1", None).unwrap();
        assert!(matches!(
            store.write(&key, b"again", None),
            Err(StoreError::Conflict(_))
        ));
        let read = store.read(&key).unwrap().unwrap();
        assert_eq!(read.bytes, b"state 1");
        assert_eq!(read.version, first);
        // Two instances read the same version; the first to write wins, the other is refused
        // and the store keeps the winner's bytes.
        let second = store
            .write(&key, b"state 2 (new owner)", Some(&first))
            .unwrap();
        let stale = store.write(&key, b"state 2 (old owner)", Some(&first));
        assert!(matches!(stale, Err(StoreError::Conflict(ref at)) if at.contains("3.ckpt")));
        let read = store.read(&key).unwrap().unwrap();
        assert_eq!(read.bytes, b"state 2 (new owner)");
        assert_eq!(read.version, second);
        store.write(&key, b"state 3", Some(&second)).unwrap();
        // Set aside: no longer read, and a new checkpoint can be created.
        let aside = store.set_aside(&key).unwrap();
        assert!(aside.ends_with("3.ckpt.rejected"), "{aside}");
        assert!(store.read(&key).unwrap().is_none());
        store.write(&key, b"rebuilt", None).unwrap();
    }

    #[test]
    fn a_directory_replaces_only_the_version_read() {
        let (store, dir) = directory();
        conditional_writes_hold(&store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_object_store_replaces_only_the_version_read() {
        conditional_writes_hold(&CheckpointStore::in_memory());
    }

    #[test]
    fn the_object_store_is_usable_from_asynchronous_code_and_dropped_there() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let store = CheckpointStore::in_memory();
            let written = tokio::task::spawn_blocking(move || {
                store.write(&["g", "t", "0"], b"x", None).map(|_| store)
            })
            .await
            .unwrap()
            .unwrap();
            drop(written);
        });
    }

    #[test]
    fn locations_name_the_file_or_the_object() {
        let (store, dir) = directory();
        assert_eq!(
            store.location(&["g", "t", "3"]),
            dir.join("g/t/3.ckpt").display().to_string()
        );
        let location = StoreLocation::parse("s3://city-state/modeshare/baerum", BTreeMap::new());
        let StoreLocation::Object { url, .. } = location.unwrap() else {
            panic!("not an object store");
        };
        assert_eq!(url.path(), "/modeshare/baerum");
        assert_eq!(
            StoreLocation::parse("file:///var/lib/modeshare", BTreeMap::new()).unwrap(),
            StoreLocation::Directory("/var/lib/modeshare".into())
        );
        for bad in ["ftp://x/y", "no url", "file://relative"] {
            assert!(StoreLocation::parse(bad, BTreeMap::new()).is_err(), "{bad}");
        }
        let memory = StoreLocation::parse("memory:///p", BTreeMap::new()).unwrap();
        let store = CheckpointStore::open(&memory).unwrap();
        assert_eq!(
            store.location(&["g", "a/b", "0"]),
            "memory:///p/g/a%2Fb/0.ckpt"
        );
    }

    #[test]
    fn unknown_store_options_are_refused() {
        let options = BTreeMap::from([("aws_nonsense".to_owned(), "1".to_owned())]);
        let location = StoreLocation::parse("s3://bucket/prefix", options).unwrap();
        let e = CheckpointStore::open(&location).unwrap_err();
        assert!(e.contains("aws_nonsense"), "{e}");
    }
}
