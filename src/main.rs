//! The `accord` binary: parse the command line, set up tracing, run, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

/// sled allocates and frees many small nodes per write; mimalloc keeps that off the glibc
/// allocator's slow paths (measured in `cargo bench --bench peers`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    accord::allocator::return_freed_memory_promptly();
    let cli = accord::cli::Cli::parse();
    if !matches!(cli.command, accord::cli::Command::Serve { .. }) {
        restore_sigpipe();
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ACCORD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into a file or a pipe.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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

/// A command whose output is piped into `head` stops quietly when the reader goes, as other
/// Unix tools do, instead of panicking on the failed write. The server keeps Rust's default
/// (SIGPIPE ignored), so a client that hangs up is an error on that connection only.
fn restore_sigpipe() {
    // SAFETY: called once at start-up, before any thread is spawned.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
