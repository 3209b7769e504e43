use std::process::ExitCode;

fn main() -> ExitCode {
    relops::cli::main()
}
