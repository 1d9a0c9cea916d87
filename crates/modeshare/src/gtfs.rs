//! Reading a GTFS feed from a zip or a folder: the tables TIDES boardings need, and the stops
//! transit access judges trips by.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use modeshare_core::decode::{Gtfs, GtfsError, GtfsTables};

/// Why a GTFS feed (or a `stops.txt`) cannot be read. Its `Display` starts with the path and is
/// the whole message: the inner error's text is part of it, so it has no `source`.
#[derive(Debug, thiserror::Error)]
pub enum GtfsFeedError {
    /// The file or a table of a folder cannot be opened or read.
    #[error("{}: {error}", path.display())]
    Read { path: PathBuf, error: io::Error },
    /// `load`: the path is neither a folder nor a zip.
    #[error("{}: not a GTFS zip or folder ({error})", path.display())]
    NotAFeed {
        path: PathBuf,
        error: zip::result::ZipError,
    },
    /// `load_stops`: a `.zip` that is not one.
    #[error("{}: not a zip ({error})", path.display())]
    NotAZip {
        path: PathBuf,
        error: zip::result::ZipError,
    },
    /// A table of the feed cannot be read.
    #[error("{}: {table}: {error}", path.display())]
    Table {
        path: PathBuf,
        table: &'static str,
        error: TableError,
    },
    #[error("{}: the feed has no {table}", path.display())]
    MissingTable { path: PathBuf, table: &'static str },
    /// A table's content is wrong.
    #[error("{}: {error}", path.display())]
    Content { path: PathBuf, error: GtfsError },
}

/// Why a table of a feed cannot be read: from a folder, or from a zip.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{0}")]
    Io(io::Error),
    #[error("{0}")]
    Zip(zip::result::ZipError),
}

/// Loads `stops.txt`, `trips.txt`, `routes.txt` and (if present) `agency.txt` from a GTFS zip
/// or a folder holding them. In a zip the tables may sit in one subfolder.
pub fn load(path: &Path) -> Result<Gtfs, GtfsFeedError> {
    let path_buf = || path.to_owned();
    let mut feed = if path.is_dir() {
        Feed::Folder(path.to_owned())
    } else {
        let file = File::open(path).map_err(|error| GtfsFeedError::Read {
            path: path_buf(),
            error,
        })?;
        let zip = zip::ZipArchive::new(file).map_err(|error| GtfsFeedError::NotAFeed {
            path: path_buf(),
            error,
        })?;
        Feed::Zip(zip)
    };
    let mut required = |table: &'static str| {
        feed.table(path, table)?
            .ok_or_else(|| GtfsFeedError::MissingTable {
                path: path_buf(),
                table,
            })
    };
    let (stops, trips, routes) = (
        required("stops.txt")?,
        required("trips.txt")?,
        required("routes.txt")?,
    );
    let agency = feed.table(path, "agency.txt")?;
    Gtfs::parse(GtfsTables {
        stops: &stops,
        trips: &trips,
        routes: &routes,
        agency: agency.as_deref(),
    })
    .map_err(|error| GtfsFeedError::Content {
        path: path_buf(),
        error,
    })
}

/// The text of a `stops.txt`: the table of a GTFS zip or folder, or the file itself.
pub fn load_stops(path: &Path) -> Result<Vec<u8>, GtfsFeedError> {
    let read = |error| GtfsFeedError::Read {
        path: path.to_owned(),
        error,
    };
    let is_zip = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    let mut feed = if path.is_dir() {
        Feed::Folder(path.to_owned())
    } else if is_zip {
        let file = File::open(path).map_err(read)?;
        Feed::Zip(
            zip::ZipArchive::new(file).map_err(|error| GtfsFeedError::NotAZip {
                path: path.to_owned(),
                error,
            })?,
        )
    } else {
        return std::fs::read(path).map_err(read);
    };
    feed.table(path, "stops.txt")?
        .ok_or_else(|| GtfsFeedError::MissingTable {
            path: path.to_owned(),
            table: "stops.txt",
        })
}

enum Feed {
    Folder(PathBuf),
    Zip(zip::ZipArchive<File>),
}

impl Feed {
    /// A table's bytes; `None` when the feed (at `path`) has no such table.
    fn table(&mut self, path: &Path, name: &'static str) -> Result<Option<Vec<u8>>, GtfsFeedError> {
        let failed = |error| GtfsFeedError::Table {
            path: path.to_owned(),
            table: name,
            error,
        };
        match self {
            Feed::Folder(dir) => match std::fs::read(dir.join(name)) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(failed(TableError::Io(e))),
            },
            Feed::Zip(zip) => {
                // At the root, else in a subfolder.
                let nested = format!("/{name}");
                let index = zip.index_for_name(name).or_else(|| {
                    (0..zip.len()).find(|i| {
                        zip.name_for_index(*i)
                            .and_then(Result::ok)
                            .is_some_and(|n| n.ends_with(&nested))
                    })
                });
                let Some(index) = index else {
                    return Ok(None);
                };
                let mut bytes = Vec::new();
                zip.by_index(index)
                    .map_err(TableError::Zip)
                    .and_then(|mut f| f.read_to_end(&mut bytes).map_err(TableError::Io))
                    .map_err(failed)?;
                Ok(Some(bytes))
            }
        }
    }
}
