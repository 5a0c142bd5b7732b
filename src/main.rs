//! The `paywire` binary: parses the command line and hands over to `cli`.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Requests are built on tokio's workers and their run records freed on the
/// store's writer thread; glibc's allocator takes arena locks and
/// consolidates on such cross-thread frees, which cost a fifth of the server's
/// CPU under load (BENCHMARKS.md). mimalloc frees to the owning thread's heap
/// without a lock.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's option number for `arena_eager_commit` (mimalloc.h; the
/// crate names no constant for it).
#[cfg(target_os = "linux")]
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// By default mimalloc commits its arenas whole on systems that overcommit,
/// and freed memory in them then stays resident: an idle server held 15 MB
/// more than with the option off (BENCHMARKS.md). The option must be set
/// before the first allocation, which Rust's runtime makes before `main`, so
/// this runs as an ELF constructor, before the runtime starts.
#[cfg(target_os = "linux")]
extern "C" fn configure_allocator() {
    // SAFETY: setting an option is a plain store into mimalloc's option
    // table, and nothing else runs this early.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0) };
}

#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static CONFIGURE_ALLOCATOR: extern "C" fn() = configure_allocator;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = paywire::cli::Cli::parse();
    // `trigger` and `clock` are clients whose output is what they did: the
    // Stripe client's warnings about the declines a recipe expects, or
    // about the refusals they report themselves, would only be noise.
    // `migrate` prints its own report; PostgreSQL's notices about the
    // tables it finds made already would bury it.
    let default_filter = match cli.command {
        paywire::cli::Command::Trigger(_) | paywire::cli::Command::Clock(_) => "error",
        paywire::cli::Command::Migrate(_) => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("PAYWIRE_LOG")
                .unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    match paywire::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
