//! Paths written in a configuration file are relative to that file's folder, so a file and the
//! data beside it can move together (into a container's `/etc/modeshare`, say). Paths from the
//! environment, from flags and from the embedded default stay relative to the working
//! directory.
//!
//! The keys that hold a path: `spatial.zones`, `transit_access.stops_file`,
//! `formats.tides.gtfs`, `formats.trafikkdata.registration_points`, `state.dir`, the `cert` and
//! `key` of `[admin.tls]` and `[ingest.tls]`, librdkafka's file options in `[kafka.options]`
//! (`*.location`, `sasl.kerberos.keytab`), and every secret's `K_file`.

use std::path::Path;

use super::secrets::{self, FILE_SUFFIX};

/// A table's path (an array of tables: each of them), and which of its keys hold a path.
const PATH_KEYS: &[(&[&str], Keys)] = &[
    (&["spatial"], Keys::Named(&["zones"])),
    (&["transit_access"], Keys::Named(&["stops_file"])),
    (&["formats", "tides"], Keys::Named(&["gtfs"])),
    (
        &["formats", "trafikkdata"],
        Keys::Named(&["registration_points"]),
    ),
    (&["state"], Keys::Named(&["dir"])),
    (&["admin", "tls"], Keys::Named(&["cert", "key"])),
    (&["ingest", "tls"], Keys::Named(&["cert", "key"])),
    (&["kafka", "options"], Keys::LibrdkafkaFiles),
];

/// Which keys of a table hold a path.
#[derive(Clone, Copy)]
enum Keys {
    Named(&'static [&'static str]),
    /// librdkafka's options that name a file.
    LibrdkafkaFiles,
}

impl Keys {
    fn holds_path(self, key: &str) -> bool {
        match self {
            Keys::Named(names) => names.contains(&key),
            Keys::LibrdkafkaFiles => key.ends_with(".location") || key == "sasl.kerberos.keytab",
        }
    }
}

/// Makes every relative path of `layer`, a configuration file's table, relative to `folder`,
/// the file's folder.
pub fn resolve_relative_to(layer: &mut toml::Table, folder: &Path) {
    for (path, keys) in PATH_KEYS {
        for (_, table) in secrets::tables_at(layer, path) {
            resolve_keys(table, folder, |key| keys.holds_path(key));
        }
    }
    for path in secrets::secret_tables() {
        for (_, table) in secrets::tables_at(layer, path) {
            resolve_keys(table, folder, |key| key.ends_with(FILE_SUFFIX));
        }
    }
}

fn resolve_keys(table: &mut toml::Table, folder: &Path, holds_path: impl Fn(&str) -> bool) {
    for (key, value) in table.iter_mut() {
        if !holds_path(key) {
            continue;
        }
        // `probe`: librdkafka's word for "find the system's CA certificates", not a file.
        if let toml::Value::String(text) = value
            && !text.is_empty()
            && text != "probe"
            && Path::new(text.as_str()).is_relative()
        {
            *text = folder.join(text.as_str()).display().to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn librdkafka_probe_and_the_stores_own_files_are_kept_as_written_or_resolved() {
        let mut layer: toml::Table = r#"
            [kafka.options]
            "ssl.ca.location" = "probe"
            "ssl.certificate.location" = "certs/client.pem"
            [state.options]
            aws_web_identity_token_file = "token"
            aws_secret_access_key_file = "key"
            aws_region = "eu-north-1"
        "#
        .parse()
        .unwrap();
        resolve_relative_to(&mut layer, Path::new("etc"));
        let options = &layer["kafka"]["options"];
        assert_eq!(options["ssl.ca.location"].as_str(), Some("probe"));
        assert_eq!(
            options["ssl.certificate.location"].as_str(),
            Some("etc/certs/client.pem")
        );
        let store = &layer["state"]["options"];
        // Resolved once, whatever number of secret keys the table has.
        assert_eq!(
            store["aws_web_identity_token_file"].as_str(),
            Some("etc/token")
        );
        assert_eq!(
            store["aws_secret_access_key_file"].as_str(),
            Some("etc/key")
        );
        assert_eq!(store["aws_region"].as_str(), Some("eu-north-1"));
    }
}
