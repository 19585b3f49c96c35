//! The `ocset-scheduler` binary: parse the command line, load the
//! configuration, and hand over to the library.

use clap::Parser;
use ocset_scheduler::cli::{self, Cli};
use ocset_scheduler::clock::SystemClock;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    // Not `#[tokio::main]`: its runtime, dropped on the way out, would wait
    // for any render still on the blocking pool (see `cli::block_on`).
    match cli::block_on(run()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
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
