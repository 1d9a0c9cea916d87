//! `modeshare token new NAME`: a token for an operator of the ingest API. The token goes to
//! stdout once (`TOKEN=$(modeshare token new voi)`); the configuration lines, which hold only
//! its SHA-256, go to stderr. modeshare never stores a token.

use std::io::Write;

use modeshare_http::auth::token_sha256;
use rand::Rng;

use crate::cli::{TokenCommand, TokenNewArgs};
use crate::failure::Failure;

/// Every token starts with this, so that secret scanners and people can tell what it is.
pub const TOKEN_PREFIX: &str = "msi_";

pub fn run(command: &TokenCommand) -> Result<(), Failure> {
    match command {
        TokenCommand::New(args) => new(args),
    }
}

fn new(args: &TokenNewArgs) -> Result<(), Failure> {
    let token = fresh_token();
    let sources = if args.sources.is_empty() {
        std::slice::from_ref(&args.name)
    } else {
        &args.sources
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{token}").map_err(|e| Failure::Input(e.into()))?;
    eprintln!(
        "The token above is shown once: hand it to operator {name:?} over a safe channel. \
         Add these lines to the configuration (or only the hash, to an existing operator's \
         token_sha256, to rotate):\n\n{lines}",
        name = args.name,
        lines = operator_lines(&args.name, sources, &token_sha256(&token)),
    );
    Ok(())
}

/// 256 random bits from the operating system's generator, in hex, after [`TOKEN_PREFIX`].
pub fn fresh_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{TOKEN_PREFIX}{hex}")
}

/// The `[[ingest.operators]]` table of an operator with one token hash.
fn operator_lines(name: &str, sources: &[String], hash: &str) -> String {
    let quoted = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let sources: Vec<String> = sources.iter().map(|s| quoted(s)).collect();
    format!(
        "[[ingest.operators]]\nname = {}\nsources = [{}]\ntoken_sha256 = [{}]\n",
        quoted(name),
        sources.join(", "),
        quoted(hash)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tokens_are_fresh_256_bit_hex() {
        let (a, b) = (fresh_token(), fresh_token());
        assert_ne!(a, b);
        let hex = a.strip_prefix(TOKEN_PREFIX).unwrap();
        assert_eq!(hex.len(), 64);
        assert!(hex.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn the_printed_lines_configure_the_operator() {
        let token = fresh_token();
        let lines = operator_lines("Voi \"Nordic\"", &["voi".into()], &token_sha256(&token));
        let table: toml::Table = lines.parse().unwrap();
        let operator = &table["ingest"]["operators"][0];
        assert_eq!(operator["name"].as_str(), Some("Voi \"Nordic\""));
        assert!(
            !lines.contains(&token),
            "only the hash is printed with the lines"
        );
        let hashes = modeshare_http::auth::TokenHashes::parse(&[operator["token_sha256"][0]
            .as_str()
            .unwrap()])
        .unwrap();
        assert!(hashes.accepts(token.as_bytes()));
    }
}
