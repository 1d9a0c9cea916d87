use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use modeshare::cli::{Cli, Command, ProvidersCommand, RunArgs};
use modeshare::{generate, produce, providers, replay, run, token};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let result = match cli.command {
        Some(Command::Replay(args)) => replay::run(&args),
        Some(Command::Run(args)) => run::run(&args),
        Some(Command::Serve(args)) => run::serve_view(&args),
        Some(Command::Generate(args)) => generate::run(&args),
        Some(Command::Produce(args)) => produce::run(&args),
        Some(Command::Token(command)) => token::run(&command),
        Some(Command::Providers(ProvidersCommand::Check(args))) => providers::check(&args),
        None => run::run(&RunArgs::default()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("modeshare: {e:#}");
            ExitCode::from(e.exit_code())
        }
    }
}
