//! Reading a GTFS feed from a zip or a folder: the tables TIDES boardings need, and the stops
//! transit access judges trips by.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use modeshare_core::decode::{Gtfs, GtfsTables};

/// Loads `stops.txt`, `trips.txt`, `routes.txt` and (if present) `agency.txt` from a GTFS zip
/// or a folder holding them. In a zip the tables may sit in one subfolder.
pub fn load(path: &Path) -> Result<Gtfs, String> {
    let failed = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let mut feed = if path.is_dir() {
        Feed::Folder(path.to_owned())
    } else {
        let file = File::open(path).map_err(|e| failed(&e))?;
        let zip = zip::ZipArchive::new(file)
            .map_err(|e| failed(&format!("not a GTFS zip or folder ({e})")))?;
        Feed::Zip(zip)
    };
    let mut required = |name: &str| {
        feed.table(name)
            .map_err(|e| failed(&e))?
            .ok_or_else(|| failed(&format!("the feed has no {name}")))
    };
    let (stops, trips, routes) = (
        required("stops.txt")?,
        required("trips.txt")?,
        required("routes.txt")?,
    );
    let agency = feed.table("agency.txt").map_err(|e| failed(&e))?;
    Gtfs::parse(GtfsTables {
        stops: &stops,
        trips: &trips,
        routes: &routes,
        agency: agency.as_deref(),
    })
    .map_err(|e| failed(&e))
}

/// The text of a `stops.txt`: the table of a GTFS zip or folder, or the file itself.
pub fn load_stops(path: &Path) -> Result<Vec<u8>, String> {
    let failed = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let is_zip = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    let mut feed = if path.is_dir() {
        Feed::Folder(path.to_owned())
    } else if is_zip {
        let file = File::open(path).map_err(|e| failed(&e))?;
        Feed::Zip(zip::ZipArchive::new(file).map_err(|e| failed(&format!("not a zip ({e})")))?)
    } else {
        return std::fs::read(path).map_err(|e| failed(&e));
    };
    feed.table("stops.txt")
        .map_err(|e| failed(&e))?
        .ok_or_else(|| failed(&"the feed has no stops.txt"))
}

enum Feed {
    Folder(PathBuf),
    Zip(zip::ZipArchive<File>),
}

impl Feed {
    /// A table's bytes; `None` when the feed has no such table.
    fn table(&mut self, name: &str) -> Result<Option<Vec<u8>>, String> {
        match self {
            Feed::Folder(dir) => match std::fs::read(dir.join(name)) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(format!("{name}: {e}")),
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
                    .map_err(|e| e.to_string())
                    .and_then(|mut f| f.read_to_end(&mut bytes).map_err(|e| e.to_string()))
                    .map_err(|e| format!("{name}: {e}"))?;
                Ok(Some(bytes))
            }
        }
    }
}
