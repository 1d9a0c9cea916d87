//! `modeshare completions SHELL` and `modeshare man`: generated from the command line's
//! definition (`cli.rs`), so they never fall behind it.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::failure::Failure;

/// The completion script of `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<(), Failure> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "modeshare", &mut std::io::stdout());
    Ok(())
}

/// The manual pages (roff) on stdout: `modeshare`'s, then every command's (`modeshare-run`,
/// `modeshare-config-check`, …), each after its parent's.
pub fn man() -> Result<(), Failure> {
    let mut command = Cli::command();
    // Built, every command has its display name (`modeshare-run`), the title of its page.
    command.build();
    let mut page = Vec::new();
    let render = |command: clap::Command, page: &mut Vec<u8>| {
        clap_mangen::Man::new(command)
            .render(page)
            .map_err(|e| Failure::Internal(e.into()))
    };
    let mut pending = vec![command];
    while let Some(command) = pending.pop() {
        render(command.clone(), &mut page)?;
        let mut subcommands: Vec<clap::Command> = command
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .cloned()
            .collect();
        subcommands.reverse();
        pending.extend(subcommands);
    }
    std::io::Write::write_all(&mut std::io::stdout().lock(), &page)
        .map_err(|e| Failure::Input(e.into()))
}
