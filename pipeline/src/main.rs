//! The `trustloop` command line: see `trustloop --help`.

/// mimalloc: the operators allocate many small, short-lived strings (every finding, verdict and
/// action event owns its fields); mimalloc serves them markedly faster than the system allocator
/// (the impact benchmark: 10,000 releases load in 12 s instead of 29 s). The benchmarks use it too,
/// so their figures are what this binary does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    trustloop::cli::main()
}
