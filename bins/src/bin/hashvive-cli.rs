//! `hashvive-cli`: bitcoin-cli compatible RPC client. All logic lives in `hashvive_core::cli`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(hashvive_core::cli::run_cli(args));
}
