//! The `ocset-scheduler` binary: parse the command line, load the
//! configuration, and hand over to the library.

use clap::Parser;
use ocset_scheduler::cli::{self, Cli};
use ocset_scheduler::clock::SystemClock;
use std::process::ExitCode;
use std::sync::Arc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Cli::parse();
    let settings = match cli::load_settings(&args, std::env::vars().collect()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    cli::init_logging(&settings);
    let mut stdout = std::io::stdout();
    match cli::run(
        args.command,
        settings,
        Arc::new(SystemClock),
        &mut stdout,
        cli::shutdown_signal(),
    )
    .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
