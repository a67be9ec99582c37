use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    steward::cli::run(steward::cli::Cli::parse())
}
