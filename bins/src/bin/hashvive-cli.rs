//! `hashvive-cli`: a bitcoin-cli compatible JSON-RPC client. All logic lives in
//! `hashvive_core::cli`.

fn main() {
    // Like bitcoin-cli (a C program), end quietly when the reader of our output goes
    // away (`hashvive-cli ... | head`) instead of reporting a write error.
    // SAFETY: restoring the default disposition of SIGPIPE before any other thread runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(hashvive_core::cli::run_cli(args));
}
