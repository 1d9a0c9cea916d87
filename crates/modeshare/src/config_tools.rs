//! `modeshare config check` and `modeshare config show`: the configuration's problems, all at
//! once, and the configuration in force with its secrets redacted.

use std::io::Write;

use crate::cli::{CommonArgs, ConfigCommand};
use crate::config::{self, show};
use crate::failure::Failure;

pub fn run(command: &ConfigCommand) -> Result<(), Failure> {
    match command {
        ConfigCommand::Check(args) => check(args),
        ConfigCommand::Show(args) => show(args),
    }
}

/// Every problem of the layered configuration (exit 2), or a line saying it is usable.
fn check(args: &CommonArgs) -> Result<(), Failure> {
    args.load_config()?;
    let what = match &args.config {
        Some(file) => format!("{} over the embedded default", file.display()),
        None => "the embedded default".to_owned(),
    };
    writeln!(
        std::io::stdout().lock(),
        "the configuration is usable: {what}, with the MODESHARE__* variables and flags"
    )
    .map_err(|e| Failure::Input(e.into()))
}

/// The layered configuration as TOML, secrets redacted; then its problems, if any (exit 2).
fn show(args: &CommonArgs) -> Result<(), Failure> {
    let mut table = config::layered(args.config.as_deref(), std::env::vars(), &args.overrides())
        .map_err(|e| Failure::Usage(e.into()))?;
    show::redact(&mut table);
    let text = toml::to_string(&table).map_err(|e| Failure::Internal(e.into()))?;
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| Failure::Input(e.into()))?;
    args.load_config().map(|_| ())
}
