use std::process::ExitCode;

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`relops traces | head`), as command-line tools do,
    // rather than panicking on the next print.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    relops::cli::main()
}
