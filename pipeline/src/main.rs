//! The `trustloop` command line: see `trustloop --help`.

fn main() -> std::process::ExitCode {
    trustloop::cli::main()
}
