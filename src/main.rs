//! The `accord` binary: parse the command line, set up tracing, run, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

/// sled allocates and frees many small nodes per write; mimalloc keeps that off the glibc
/// allocator's slow paths (measured in `cargo bench --bench peers`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = accord::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ACCORD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match accord::cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Errors quote input (file lines, names): show it, never let a terminal act on it.
            let message = format!("{e:#}")
                .split('\n')
                .map(accord::render::printable)
                .collect::<Vec<_>>()
                .join("\n");
            eprintln!("accord: {message}");
            ExitCode::from(accord::cli::exit_code(&e))
        }
    }
}
