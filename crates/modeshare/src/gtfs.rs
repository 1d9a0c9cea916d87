//! Reading a GTFS feed from a zip or a folder: the tables TIDES boardings need.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use modeshare_core::decode::{Gtfs, GtfsTables};

/// Loads `stops.txt`, `trips.txt`, `routes.txt` and (if present) `agency.txt` from a GTFS zip
/// or a folder holding them. In a zip the tables may sit in one subfolder.
pub fn load(path: &Path) -> Result<Gtfs, String> {
    let tables = if path.is_dir() {
        read_folder(path)?
    } else {
        read_zip(path)?
    };
    let text = |name: &str| -> Result<&[u8], String> {
        tables
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, t)| t.as_deref())
            .ok_or_else(|| format!("{}: the feed has no {name}", path.display()))
    };
    let gtfs = Gtfs::parse(GtfsTables {
        stops: text("stops.txt")?,
        trips: text("trips.txt")?,
        routes: text("routes.txt")?,
        agency: text("agency.txt").ok(),
    })
    .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(gtfs)
}

const TABLES: [&str; 4] = ["stops.txt", "trips.txt", "routes.txt", "agency.txt"];

type Tables = Vec<(&'static str, Option<Vec<u8>>)>;

fn read_folder(path: &Path) -> Result<Tables, String> {
    TABLES
        .iter()
        .map(|name| {
            let file = path.join(name);
            match std::fs::read(&file) {
                Ok(bytes) => Ok((*name, Some(bytes))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((*name, None)),
                Err(e) => Err(format!("{}: {e}", file.display())),
            }
        })
        .collect()
}

fn read_zip(path: &Path) -> Result<Tables, String> {
    let failed = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let file = File::open(path).map_err(|e| failed(&e))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| failed(&format!("not a GTFS zip or folder ({e})")))?;
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| failed(&e))?;
    let mut tables = Vec::new();
    for table in TABLES {
        let entry = names
            .iter()
            .find(|n| *n == table)
            .or_else(|| names.iter().find(|n| n.ends_with(&format!("/{table}"))));
        let Some(entry) = entry else {
            tables.push((table, None));
            continue;
        };
        let mut bytes = Vec::new();
        archive
            .by_name(entry)
            .and_then(|mut f| f.read_to_end(&mut bytes).map_err(Into::into))
            .map_err(|e| failed(&format!("{entry}: {e}")))?;
        tables.push((table, Some(bytes)));
    }
    Ok(tables)
}
