//! The effective configuration as TOML, for `modeshare config show`: the layered table (the
//! embedded default, the file, the environment, the flags, secrets read from their files) with
//! every secret's value replaced by [`REDACTED`].

use super::secrets::tables_at;

/// What a secret's value is shown as.
pub const REDACTED: &str = "[redacted]";

/// Replaces the value of every secret key of `table`, a layered configuration: the admin's and
/// each operator's token hashes, each provider's `token` and `client_secret`, the secret
/// `[kafka.options]` ([`modeshare_kafka::config::is_secret`]) and the secret `[state.options]`
/// ([`is_secret_store_option`]). A list keeps its length, so a rotation shows as two items.
pub fn redact(table: &mut toml::Table) {
    let named: [(&[&str], &[&str]); 3] = [
        (&["admin"], &["token_sha256"]),
        (&["ingest", "operators"], &["token_sha256"]),
        (&["providers"], &["token", "client_secret"]),
    ];
    for (path, keys) in named {
        for (_, t) in tables_at(table, path) {
            for key in keys {
                if let Some(value) = t.get_mut(*key) {
                    hide(value);
                }
            }
        }
    }
    let options: [(&[&str], IsSecret); 2] = [
        (&["kafka", "options"], modeshare_kafka::config::is_secret),
        (&["state", "options"], is_secret_store_option),
    ];
    for (path, is_secret) in options {
        for (_, t) in tables_at(table, path) {
            for (key, value) in t.iter_mut() {
                if is_secret(key) {
                    hide(value);
                }
            }
        }
    }
}

/// Whether the value of an option, by its key, is a secret.
type IsSecret = fn(&str) -> bool;

/// Whether an object store option (the `object_store` crate's names) holds a secret: its keys,
/// tokens, passwords and secrets (`aws_secret_access_key`, `aws_session_token`,
/// `azure_storage_account_key`, `azure_storage_sas_key`, `google_service_account_key`, …).
pub fn is_secret_store_option(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["secret", "token", "password", "sas", "credential"]
        .iter()
        .any(|word| k.contains(word))
        || k.ends_with("_key")
}

fn hide(value: &mut toml::Value) {
    match value {
        toml::Value::Array(items) => items.iter_mut().for_each(hide),
        other => *other = toml::Value::String(REDACTED.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_store_secrets_are_told_from_the_rest() {
        for secret in [
            "aws_secret_access_key",
            "aws_session_token",
            "azure_storage_account_key",
            "azure_storage_sas_key",
            "azure_client_secret",
            "google_service_account_key",
        ] {
            assert!(is_secret_store_option(secret), "{secret}");
        }
        for plain in [
            "aws_region",
            "aws_endpoint",
            "aws_allow_http",
            "aws_access_key_id",
        ] {
            assert!(!is_secret_store_option(plain), "{plain}");
        }
    }
}
