use std::process::ExitCode;

use clap::Parser;
use modeshare::cli::{Cli, Command, ProvidersCommand, RunArgs};
use modeshare::config::log::format_of;
use modeshare::failure::Failure;
use modeshare::{config_tools, generate, logging, manual, produce, providers, replay, run, token};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = logging::filter(
        std::env::var(logging::FILTER_VARIABLE).ok().as_deref(),
        cli.log_level.as_deref(),
    )
    .map_err(|e| Failure::Usage(anyhow::anyhow!(e)))
    .and_then(|filter| {
        let format = cli
            .log_format
            .or_else(|| format_of(cli.config_file(), std::env::vars()))
            .unwrap_or_default();
        logging::init(format, filter);
        execute(cli)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("modeshare: {e:#}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn execute(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Some(Command::Replay(args)) => replay::run(&args),
        Some(Command::Run(args)) => run::run(&args),
        Some(Command::Serve(args)) => run::serve_view(&args),
        Some(Command::Generate(args)) => generate::run(&args),
        Some(Command::Produce(args)) => produce::run(&args),
        Some(Command::Token(command)) => token::run(&command),
        Some(Command::Providers(ProvidersCommand::Check(args))) => providers::check(&args),
        Some(Command::Config(command)) => config_tools::run(&command),
        Some(Command::Completions(args)) => manual::completions(args.shell),
        Some(Command::Man) => manual::man(),
        None => run::run(&RunArgs::default()),
    }
}
